import Logging
import WharfCore

/// Every configuration key, declared once: `ConfigFileLoader` reads the file
/// with them, `wharf serve` checks and applies its flags with them, and a test
/// holds the README's configuration block to them.
public enum ConfigKeys {
    /// Every `[section]`, in the order the reader applies them.
    public static let sections: [ConfigSection] = [
        Limits.section, Delivery.section, Storage.section, Auth.section, Metrics.section, Top.section, Log.section,
        Cluster.section,
    ]

    /// `[[policy]]`: an array of tables, each one `DeliveryPolicy`.
    public static let policySection = "policy"
    public static let policy: [ConfigKey<DeliveryPolicy>] = Policy.keys

    /// `[listener]` or `[[listener]]`: one table or an array of them, each one `ListenerConfig`.
    public static let listenerSection = "listener"
    public static let listener: [ConfigKey<ListenerConfig>] = Listener.keys

    /// Section names the file may use.
    public static var sectionNames: Set<String> { Set(sections.map(\.name) + [policySection, listenerSection]) }

    public enum Delivery {
        public static let retryBackoffMinimum = ConfigKey<ServerConfig>.number(
            "delivery", "retry_backoff_min", 0...86_400, default: .value(1),
            doc: "seconds before the first redelivery of a refused (nacked) message"
        ) { $0.delivery.retryBackoffMinimum = $1 }
        public static let retryBackoffMaximum = ConfigKey<ServerConfig>.number(
            "delivery", "retry_backoff_max", 0...86_400, default: .value(60), doc: "the backoff doubles per refusal up to this"
        ) { $0.delivery.retryBackoffMaximum = $1 }
        public static let dedupWindow = ConfigKey<ServerConfig>.number(
            "delivery", "dedup_window", 0...604_800, default: .value(300), doc: "seconds a wharf-msg-id is remembered per topic"
        ) { $0.delivery.dedupWindow = $1 }
        static let section = ConfigSection("delivery", [retryBackoffMinimum, retryBackoffMaximum, dedupWindow]) { config in
            let (minimum, maximum) = (config.delivery.retryBackoffMinimum, config.delivery.retryBackoffMaximum)
            guard maximum < minimum else { return nil }
            return (retryBackoffMaximum.path, "must be at least retry_backoff_min (\(minimum)); got \(maximum)")
        }
    }

    public enum Auth {
        public static let allowAnonymous = ConfigKey<ServerConfig>.bool(
            "auth", "allow_anonymous", default: .value(true),
            doc: "false: a CONNECT without a user name gets return code 5 (not authorized)"
        ) { $0.allowAnonymous = $1 }
        public static let passwordFile = ConfigKey<ServerConfig>.path(
            "auth", "password_file", default: .unset(example: "passwd"),
            doc: "optional; Mosquitto format, relative to this file; a mismatch gets return code 4; re-read on SIGHUP"
        ) { $0.passwordFile = $1 }
        public static let aclFile = ConfigKey<ServerConfig>.path(
            "auth", "acl_file", default: .unset(example: "acl"),
            doc: "optional; Mosquitto's ACL format; denied publishes get 0x87 (3.1.1: dropped), subscriptions 0x87 (3.1.1: 0x80)"
        ) { $0.aclFile = $1 }
        static let section = ConfigSection("auth", [allowAnonymous, passwordFile, aclFile])
    }

    public enum Log {
        private static let levels = Logger.Level.allCases.map(\.rawValue)
        public static let level = ConfigKey<ServerConfig>.choice(
            "log", "level", of: Logger.Level.self, default: .value("info"), doc: levels.joined(separator: ", "),
            flag: .option("log-level", levels.dropLast().joined(separator: ", ") + " or " + (levels.last ?? ""))
        ) { $0.logLevel = $1 }
        static let section = ConfigSection("log", [level])
    }
}
