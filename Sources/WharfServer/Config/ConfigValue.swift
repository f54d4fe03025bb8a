/// A value for a configuration key as the file or a flag gives it, before the
/// key checks it: one of the TOML types the keys use.
public enum ConfigValue: Sendable, Hashable {
    case int(Int)
    case number(Double)
    case bool(Bool)
    case string(String)
    case strings([String])

    /// As a help text shows it: `1883`, `0.5`, `info`, `orders/, sensors/`.
    public var plain: String {
        switch self {
        case .int(let value): String(value)
        case .number(let value): Self.spell(value)
        case .bool(let value): String(value)
        case .string(let value): value
        case .strings(let values): values.joined(separator: ", ")
        }
    }

    /// Integral numbers without their `.0`, as the README writes them.
    private static func spell(_ value: Double) -> String {
        value.rounded() == value && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }
}

extension ConfigValue: CustomStringConvertible {
    /// As TOML spells it: `1883`, `0.5`, `"info"`, `["orders/"]`.
    public var description: String {
        switch self {
        case .string(let value): Self.quote(value)
        case .strings(let values): "[" + values.map(Self.quote).joined(separator: ", ") + "]"
        default: plain
        }
    }

    private static func quote(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}

extension ConfigValue: ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByStringLiteral, ExpressibleByArrayLiteral
{
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: String...) { self = .strings(elements) }
}
