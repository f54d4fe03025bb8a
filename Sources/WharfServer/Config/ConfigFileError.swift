/// A configuration problem, phrased for the operator: which file, which key
/// (or line), and what is wrong with it.
public struct ConfigFileError: Error, Sendable, CustomStringConvertible {
    public let file: String
    public let key: String?
    public let line: Int?
    public let problem: String

    public init(file: String, key: String? = nil, line: Int? = nil, problem: String) {
        self.file = file
        self.key = key
        self.line = line
        self.problem = problem
    }

    public var description: String {
        var location = file
        if let line { location += ":\(line)" }
        if let key { return "\(location): key '\(key)': \(problem)" }
        return "\(location): \(problem)"
    }
}
