/// What a key takes: its TOML type and, for numbers, the range allowed.
/// Formats inside a string (sizes, fsync policies, names) are the key's own check.
public enum ConfigKind: Sendable, Equatable {
    case int(ClosedRange<Int>)
    /// An integer or a float.
    case number(ClosedRange<Double>)
    case bool
    case string
    case strings

    /// What the value must be, for "must be ..., got <type>".
    public var expected: String {
        switch self {
        case .int: "an integer"
        case .number: "a number"
        case .bool: "true or false"
        case .string: "a string"
        case .strings: "an array of strings"
        }
    }

    /// The value as this kind holds it (an integer given for a number becomes
    /// a number), or nil when it is of another type.
    public func coerce(_ value: ConfigValue) -> ConfigValue? {
        switch (self, value) {
        case (.int, .int), (.number, .number), (.bool, .bool), (.string, .string), (.strings, .strings): value
        case (.number, .int(let int)): .number(Double(int))
        default: nil
        }
    }

    /// The value coerced and range-checked, or what is wrong with it.
    func check(_ value: ConfigValue) throws(ConfigProblem) -> ConfigValue {
        guard let value = coerce(value) else {
            throw ConfigProblem("must be \(expected)")
        }
        switch (self, value) {
        case (.int(let range), .int(let int)) where !range.contains(int):
            throw ConfigProblem("must be between \(range.lowerBound) and \(range.upperBound), got \(int)")
        case (.number(let range), .number(let number)) where !range.contains(number):
            throw ConfigProblem("must be between \(range.lowerBound) and \(range.upperBound), got \(number)")
        default:
            return value
        }
    }
}

/// What is wrong with a value, phrased to follow the key or flag it was given
/// for ("must be between 0 and 65535, got 70000").
public struct ConfigProblem: Error, Sendable, Equatable {
    public let text: String

    public init(_ text: String) {
        self.text = text
    }
}
