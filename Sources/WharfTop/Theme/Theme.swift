/// A complete colour theme: one colour for every `ColorRole`.
///
/// Themes come from `.theme` files (see `ThemeParser`, `ThemeLoader` and
/// Themes/README.md); `Theme.fallback` is built in so the dashboard still has
/// colours when no theme file can be found.
public struct Theme: Sendable, Equatable {
    /// The display name: the file's `name` key, or its base name.
    public let name: String
    /// Every role has a colour; `init` enforces it.
    public let colors: [ColorRole: ThemeColor]

    /// `colors` must contain every `ColorRole` (a programming error otherwise;
    /// files with missing roles are rejected by `ThemeParser` with a message).
    public init(name: String, colors: [ColorRole: ThemeColor]) {
        precondition(
            ColorRole.allCases.allSatisfy { colors[$0] != nil },
            "Theme '\(name)' lacks colours for some roles")
        self.name = name
        self.colors = colors
    }

    public subscript(role: ColorRole) -> ThemeColor {
        // Never nil (see init); the default only keeps this non-optional.
        colors[role] ?? .terminalDefault
    }

    /// The built-in dark theme. It has the same colours as Themes/default.theme
    /// (a test keeps them in step), so the dashboard looks the same whether or
    /// not the Themes directory is found.
    public static let fallback = Theme(
        name: "fallback",
        colors: [
            .background: .rgb(0x00, 0x00, 0x00),
            .foreground: .rgb(0xcc, 0xcc, 0xcc),
            .muted: .rgb(0x80, 0x80, 0x80),
            .border: .rgb(0x44, 0x44, 0x44),
            .title: .rgb(0x48, 0x97, 0xd4),
            .header: .rgb(0xee, 0xee, 0xee),
            .selection: .rgb(0x6a, 0x2f, 0x2f),
            .selectionText: .rgb(0xee, 0xee, 0xee),
            .accent: .rgb(0xe8, 0x68, 0xb8),
            .ok: .rgb(0x50, 0xf0, 0x95),
            .warning: .rgb(0xf2, 0xe2, 0x66),
            .critical: .rgb(0xfa, 0x1e, 0x1e),
            .graphLow: .rgb(0x31, 0x68, 0x8e),
            .graphMid: .rgb(0x35, 0xb7, 0x79),
            .graphHigh: .rgb(0xfd, 0xe7, 0x25),
        ])
}
