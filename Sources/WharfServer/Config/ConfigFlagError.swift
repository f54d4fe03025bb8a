/// A flag's value refused by its key's declaration, phrased as the file's
/// errors are: "--port must be between 0 and 65535, got 70000".
public struct ConfigFlagError: Error, Sendable, CustomStringConvertible {
    public let flag: String
    public let problem: String

    public var description: String { "--\(flag) \(problem)" }
}

extension ConfigKey {
    /// Checks and applies a value given by the key's flag, through the same
    /// `apply` as a value from the file.
    public func applyFlag(_ value: ConfigValue, to root: inout Root) throws(ConfigFlagError) {
        do throws(ConfigProblem) {
            try apply(value, to: &root)
        } catch {
            throw ConfigFlagError(flag: flag?.name ?? path, problem: error.text)
        }
    }
}
