/// Limits above which a cell turns warning or critical, from the config
/// file's `[top]` section or flags. Defaults match the shipped alert rules.
public struct Thresholds: Sendable, Equatable {
    public struct Pair: Sendable, Equatable {
        public var warning: Double
        public var critical: Double

        public init(warning: Double, critical: Double) {
            self.warning = warning
            self.critical = critical
        }

        public func level(_ value: Double?) -> Level {
            guard let value else { return .normal }
            if value >= critical { return .critical }
            if value >= warning { return .warning }
            return .normal
        }
    }

    public enum Level: Int, Sendable, Comparable {
        case normal, warning, critical
        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }

        public var role: ColorRole {
            switch self {
            case .normal: return .foreground
            case .warning: return .warning
            case .critical: return .critical
            }
        }
    }

    /// Consumer lag in seconds.
    public var lagSeconds = Pair(warning: 10, critical: 60)
    /// Queue depth in messages.
    public var depth = Pair(warning: 500, critical: 900)
    /// p99 publish-to-deliver latency in seconds.
    public var p99 = Pair(warning: 0.1, critical: 0.5)

    public init() {}
}
