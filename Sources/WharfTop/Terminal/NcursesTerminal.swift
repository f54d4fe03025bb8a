@preconcurrency import CNcurses
import Foundation

/// The one place that talks to ncurses: it draws the runs of cells a frame
/// changed and reads keys. Everything else renders into `CellGrid`s.
///
/// `restore()` must run on every way out (the app defers it); ncurses
/// leaves the terminal in raw mode otherwise.
final class NcursesTerminal {
    private let colors: [ColorRole: TerminalColor]
    private let depth: ColorDepth
    private var pairs: [PairKey: Int32] = [:]
    private var nextPair: Int32 = 1
    private var active = false

    private struct PairKey: Hashable {
        var foreground: ColorRole
        var background: ColorRole
    }

    /// Starts curses mode. Colours come from `theme`, mapped down to what the
    /// terminal supports (`NO_COLOR` turns them off).
    init(theme: Theme, environment: [String: String] = ProcessInfo.processInfo.environment) {
        if setlocale(LC_ALL, "") == nil || !String(cString: nl_langinfo(nl_item(CODESET))).uppercased().contains("UTF") {
            // Bare Debian has only C.UTF-8; without a UTF-8 locale box drawing is garbled.
            setlocale(LC_ALL, "C.UTF-8")
        }
        set_escdelay(25)
        // Follow the real terminal size (and its resizes), never LINES or
        // COLUMNS left in the environment by whatever started us.
        unsetenv("LINES")
        unsetenv("COLUMNS")
        use_tioctl(true)
        initscr()
        active = true
        raw()
        noecho()
        nonl()
        keypad(wharf_stdscr(), true)
        curs_set(0)
        var colorCount: Int32 = 0
        if has_colors() {
            start_color()
            use_default_colors()
            colorCount = wharf_colors()
        }
        depth = ColorMapping.depth(colors: Int(colorCount), environment: environment)
        colors = theme.terminalColors(depth: depth)
        if depth != .none {
            let background = pair(for: Style.plain)
            wbkgdset(wharf_stdscr(), chtype(UInt32(COLOR_PAIR(background))) | chtype(UInt8(ascii: " ")))
        }
        wclear(wharf_stdscr())
    }

    var size: (width: Int, height: Int) {
        (Int(getmaxx(wharf_stdscr())), Int(getmaxy(wharf_stdscr())))
    }

    /// Draws changed cells and shows them (ncurses sends only what differs).
    func draw(_ runs: [CellGrid.Run]) {
        for run in runs {
            let attributes = attributes(for: run.style)
            wattr_set(wharf_stdscr(), attr_t(attributes.flags), Int16(truncatingIfNeeded: attributes.pair), nil)
            _ = mvwaddstr(wharf_stdscr(), Int32(run.y), Int32(run.x), run.text)
        }
        wrefresh(wharf_stdscr())
    }

    /// Forgets what is on screen: the next draw repaints everything.
    func clear() {
        wclear(wharf_stdscr())
    }

    /// The next key, or nil after `timeoutMilliseconds` without one.
    func readKey(timeoutMilliseconds: Int32) -> Key? {
        wtimeout(wharf_stdscr(), timeoutMilliseconds)
        let code = wgetch(wharf_stdscr())
        switch code {
        case ERR: return nil
        case KEY_UP: return .up
        case KEY_DOWN: return .down
        case KEY_LEFT: return .left
        case KEY_RIGHT: return .right
        case KEY_PPAGE: return .pageUp
        case KEY_NPAGE: return .pageDown
        case KEY_HOME: return .home
        case KEY_END: return .end
        case KEY_BTAB: return .backTab
        case KEY_ENTER, 10, 13: return .enter
        case KEY_BACKSPACE, 127, 8: return .backspace
        case KEY_RESIZE: return .resize
        case 9: return .tab
        case 27: return .escape
        case 3: return .interrupt
        case 32...126: return .character(Character(UnicodeScalar(UInt8(code))))
        default: return nil
        }
    }

    /// Leaves curses mode and gives the terminal back as it was.
    func restore() {
        guard active else { return }
        active = false
        curs_set(1)
        endwin()
    }

    deinit { restore() }

    // MARK: Colour pairs

    private func attributes(for style: Style) -> (flags: UInt32, pair: Int32) {
        var flags = wharf_a_normal()
        if style.bold { flags |= wharf_a_bold() }
        if style.underline { flags |= wharf_a_underline() }
        guard depth != .none else {
            // Monochrome: the selection and the title bar are reversed, the
            // critical and warning cells bold, so nothing relies on colour.
            if style.background == .selection || style.background == .title || style.background == .critical
                || style.background == .warning || style.background == .accent
            {
                flags |= wharf_a_reverse()
            }
            if style.foreground == .critical || style.foreground == .warning || style.foreground == .accent { flags |= wharf_a_bold() }
            return (flags, 0)
        }
        return (flags, pair(for: style))
    }

    private func pair(for style: Style) -> Int32 {
        let key = PairKey(foreground: style.foreground, background: style.background)
        if let existing = pairs[key] { return existing }
        guard nextPair < wharf_color_pairs() else { return 0 }
        let number = nextPair
        nextPair += 1
        init_extended_pair(number, colorNumber(colors[style.foreground]), colorNumber(colors[style.background]))
        pairs[key] = number
        return number
    }

    /// ncurses colour number: -1 for the terminal default, the palette
    /// index, or (direct colour) the 24-bit value itself.
    private func colorNumber(_ color: TerminalColor?) -> Int32 {
        switch color {
        case .none, .terminalDefault?: return -1
        case .index(let index)?: return Int32(index)
        case .rgb(let r, let g, let b)?: return Int32(r) << 16 | Int32(g) << 8 | Int32(b)
        }
    }
}
