/// `[top]`: the dashboard's defaults (`wharf top` and `wharf demo`; their
/// flags override them). Unset here: the dashboard applies its own defaults.
extension ConfigKeys {
    public enum Top {
        static let dashboard = "wharf top"

        public static let theme = ConfigKey<ServerConfig>.string(
            "top", "theme", default: .appliedBy(dashboard, "default"),
            doc: "a theme name (see wharf top --list-themes) or a path to a .theme file"
        ) { $0.top.theme = $1 }
        public static let interval = ConfigKey<ServerConfig>.number(
            "top", "interval", 0.1...3600, default: .appliedBy(dashboard, 1), doc: "seconds between refreshes"
        ) { $0.top.interval = $1 }
        public static let lagWarning = ConfigKey<ServerConfig>.number(
            "top", "lag_warning", 0...1e9, default: .appliedBy(dashboard, 10), doc: "consumer lag in seconds shown as a warning"
        ) { $0.top.lagWarning = $1 }
        public static let lagCritical = ConfigKey<ServerConfig>.number(
            "top", "lag_critical", 0...1e9, default: .appliedBy(dashboard, 60), doc: "consumer lag in seconds shown as critical"
        ) { $0.top.lagCritical = $1 }
        public static let depthWarning = ConfigKey<ServerConfig>.number(
            "top", "depth_warning", 0...1e12, default: .appliedBy(dashboard, 500), doc: "queue depth shown as a warning"
        ) { $0.top.depthWarning = $1 }
        public static let depthCritical = ConfigKey<ServerConfig>.number(
            "top", "depth_critical", 0...1e12, default: .appliedBy(dashboard, 900), doc: "queue depth shown as critical"
        ) { $0.top.depthCritical = $1 }
        public static let p99Warning = ConfigKey<ServerConfig>.number(
            "top", "p99_warning", 0...1e6, default: .appliedBy(dashboard, 0.1), doc: "p99 delivery latency in seconds shown as a warning"
        ) { $0.top.p99Warning = $1 }
        public static let p99Critical = ConfigKey<ServerConfig>.number(
            "top", "p99_critical", 0...1e6, default: .appliedBy(dashboard, 0.5), doc: "p99 delivery latency in seconds shown as critical"
        ) { $0.top.p99Critical = $1 }

        static let section = ConfigSection(
            "top",
            [
                theme, interval, lagWarning, lagCritical, depthWarning, depthCritical, p99Warning, p99Critical,
            ])
    }
}
