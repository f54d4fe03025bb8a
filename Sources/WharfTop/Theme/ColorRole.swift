/// What a colour is used for. Widgets ask for roles; a theme maps each role
/// to a colour, so a theme file never needs to know about widgets.
public enum ColorRole: String, CaseIterable, Sendable, Hashable {
    /// Screen background and ordinary text.
    case background
    case foreground
    /// Secondary text: units, separators, empty values.
    case muted
    /// Box and rule lines.
    case border
    /// The title bar and the active tab.
    case title
    /// Table column headings.
    case header
    /// The selected row's background and text.
    case selection
    case selectionText
    /// Highlights: the sort column, key names in the footer and help.
    case accent
    /// Values within thresholds, over the warning threshold, over the critical one.
    case ok
    case warning
    case critical
    /// Sparkline and heat-strip shades, from low to high.
    case graphLow
    case graphMid
    case graphHigh
}

/// A colour as a theme file gives it.
public enum ThemeColor: Sendable, Hashable {
    /// `#rrggbb`.
    case rgb(UInt8, UInt8, UInt8)
    /// An xterm 256-colour index, `0`...`255` (0-7 are the ANSI colours).
    case indexed(UInt8)
    /// `default`: the terminal's own foreground or background.
    case terminalDefault
}

/// How many colours the terminal can show; themes are mapped down to it.
public enum ColorDepth: Sendable, Hashable, Comparable {
    /// No colour (`NO_COLOR`, or a terminal without colour): attributes only.
    case none
    /// The 8 ANSI colours.
    case ansi8
    /// The xterm 256-colour palette.
    case indexed256
    /// 24-bit colour (a terminfo entry with direct colour, such as xterm-direct).
    case direct
}
