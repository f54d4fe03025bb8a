/// A `[section]` of the config file: its keys, in the order they are applied,
/// and any rule across them.
public struct ConfigSection: Sendable {
    public let name: String
    public let keys: [ConfigKey<ServerConfig>]
    /// Checked once the section's keys are applied: the key at fault and what is wrong.
    let rule: (@Sendable (ServerConfig) -> (key: String, problem: String)?)?

    init(_ name: String, _ keys: [ConfigKey<ServerConfig>], rule: (@Sendable (ServerConfig) -> (key: String, problem: String)?)? = nil) {
        self.name = name
        self.keys = keys
        self.rule = rule
    }

    /// The key names the section allows.
    public var keyNames: Set<String> { Set(keys.map(\.name)) }
}
