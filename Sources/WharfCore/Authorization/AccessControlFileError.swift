/// A problem in an ACL file, phrased for the operator: which file, which
/// line, and what is wrong with it. A broker that cannot read its ACL must
/// not start (or reload) with a guess, so every problem is an error.
public struct AccessControlFileError: Error, Sendable, CustomStringConvertible {
    public let file: String
    /// 1-based; nil when the problem is the whole file (it cannot be read).
    public let line: Int?
    public let problem: String

    public init(file: String, line: Int? = nil, problem: String) {
        self.file = file
        self.line = line
        self.problem = problem
    }

    /// `file:line: problem`, the form editors and terminals turn into a link.
    public var description: String {
        guard let line else { return "\(file): \(problem)" }
        return "\(file):\(line): \(problem)"
    }
}
