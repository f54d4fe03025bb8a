/// A key press, decoded from the terminal.
public enum Key: Sendable, Equatable {
    case character(Character)
    case up, down, left, right, pageUp, pageDown, home, end
    case tab, backTab, enter, escape, backspace
    /// Ctrl-C (the terminal is in raw mode, so it arrives as a key).
    case interrupt
    case resize
}

/// Applies keys to the view state. Pure, so every binding is unit-tested.
public enum KeyHandler {
    public static func apply(_ key: Key, to view: inout ViewState, frame: Frame, sortColumns: Int) {
        if key == .interrupt {
            view.quit = true
            return
        }
        if view.editingFilter {
            switch key {
            case .enter: view.editingFilter = false
            case .escape:
                view.editingFilter = false
                view.filter = ""
            case .backspace: if !view.filter.isEmpty { view.filter.removeLast() }
            case .character(let c): view.filter.append(c)
            default: break
            }
            view.selection = 0
            view.scroll = 0
            return
        }
        if view.helpVisible {
            if key != .resize { view.helpVisible = false }
            return
        }
        let last = max(0, frame.rowCount - 1)
        switch key {
        case .character("q"), .character("Q"): view.quit = true
        case .character("?"), .character("h"): view.helpVisible = true
        case .tab: switchTo(Screen(rawValue: view.screen.rawValue % Screen.allCases.count + 1)!, &view)
        case .backTab: switchTo(Screen(rawValue: (view.screen.rawValue + Screen.allCases.count - 2) % Screen.allCases.count + 1)!, &view)
        case .character(let c) where c.isNumber:
            if let n = c.wholeNumberValue, let screen = Screen(rawValue: n) { switchTo(screen, &view) }
        case .up, .character("k"): view.selection = max(0, view.selection - 1)
        case .down, .character("j"): view.selection = min(last, view.selection + 1)
        case .pageUp: view.selection = max(0, view.selection - frame.pageHeight)
        case .pageDown: view.selection = min(last, view.selection + frame.pageHeight)
        case .home, .character("g"): view.selection = 0
        case .end, .character("G"): view.selection = last
        case .character("s"):
            guard sortColumns > 0 else { break }
            view.sortColumn[view.screen] = (view.sortIndex(view.screen) + 1) % sortColumns
        case .character("S"):
            view.sortDescending[view.screen] = !view.descending(view.screen)
        case .character("/"):
            view.editingFilter = true
        case .character("p"), .character(" "):
            view.paused.toggle()
        case .enter:
            guard let key = frame.selectedKey else { break }
            if view.screen == .topics {
                if frame.selectedIsBranch { toggle(key, &view.collapsedTopics) }
            } else if view.screen == .queues || view.screen == .clients {
                view.detail = view.detail == key ? nil : key
            }
        case .left:
            if view.screen == .topics, let key = frame.selectedKey, frame.selectedIsBranch { view.collapsedTopics.insert(key) }
        case .right:
            if view.screen == .topics, let key = frame.selectedKey { view.collapsedTopics.remove(key) }
        case .escape:
            if view.detail != nil { view.detail = nil } else { view.filter = "" }
        default:
            break
        }
    }

    static func switchTo(_ screen: Screen, _ view: inout ViewState) {
        guard screen != view.screen else { return }
        view.screen = screen
        view.selection = 0
        view.scroll = 0
        view.detail = nil
    }

    static func toggle(_ key: String, _ set: inout Set<String>) {
        if set.contains(key) { set.remove(key) } else { set.insert(key) }
    }
}
