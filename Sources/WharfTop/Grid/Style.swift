/// How a cell looks: colour roles (resolved through the theme at draw
/// time) and attributes. Small and hashable, so grids compare cheaply.
public struct Style: Hashable, Sendable {
    public var foreground: ColorRole
    public var background: ColorRole
    public var bold: Bool
    public var underline: Bool

    public init(_ foreground: ColorRole = .foreground, on background: ColorRole = .background, bold: Bool = false, underline: Bool = false)
    {
        self.foreground = foreground
        self.background = background
        self.bold = bold
        self.underline = underline
    }

    public static let plain = Style()
    public static let muted = Style(.muted)
    public static let title = Style(.background, on: .title, bold: true)
    public static let header = Style(.header, bold: true)
    public static let accent = Style(.accent, bold: true)
    public static let selected = Style(.selectionText, on: .selection)

    public func bolded() -> Style {
        var copy = self
        copy.bold = true
        return copy
    }
    public func on(_ background: ColorRole) -> Style {
        var copy = self
        copy.background = background
        return copy
    }
}
