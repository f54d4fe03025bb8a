import TOMLKit
import WharfCore

/// Reads the keys of one TOML table with their declarations, naming the file
/// and the key in every error.
struct ConfigTableReader {
    let file: String

    /// A key the section does not declare is an error.
    func checkKeys(_ table: TOMLTable, allowed: Set<String>, in section: String) throws(ConfigFileError) {
        for key in table.keys where !allowed.contains(key) {
            throw ConfigFileError(
                file: file, key: "\(section).\(key)", problem: "unknown key (known: \(allowed.sorted().joined(separator: ", ")))")
        }
    }

    /// Sets `key` from the table if it is there. `name` is how errors name it
    /// (`policy[2].max_length`); by default its path.
    func apply<Root>(_ key: ConfigKey<Root>, from table: TOMLTable, to root: inout Root, as name: String? = nil) throws(ConfigFileError) {
        guard let toml = table[key.name] else { return }
        let name = name ?? key.path
        let value = try value(toml, as: key.kind, key: name)
        do throws(ConfigProblem) {
            try key.apply(value, to: &root, file: file)
        } catch {
            throw ConfigFileError(file: file, key: name, problem: error.text)
        }
    }

    /// The TOML value as the kind's type, or an error saying what it must be.
    private func value(_ toml: TOMLValueConvertible, as kind: ConfigKind, key: String) throws(ConfigFileError) -> ConfigValue {
        if let value = Self.value(toml, as: kind) { return value }
        if case .strings = kind, let array = toml.array, let element = array.first(where: { $0.string == nil }) {
            throw ConfigFileError(file: file, key: key, problem: "must be \(kind.expected), got an element of type \(element.type)")
        }
        throw ConfigFileError(file: file, key: key, problem: "must be \(kind.expected), got \(toml.type)")
    }

    /// The TOML value as the kind's type, or nil if it is of another.
    static func value(_ toml: TOMLValueConvertible, as kind: ConfigKind) -> ConfigValue? {
        switch kind {
        case .int: toml.int.map(ConfigValue.int)
        case .number: (toml.double ?? toml.int.map(Double.init)).map(ConfigValue.number)
        case .bool: toml.bool.map(ConfigValue.bool)
        case .string: toml.string.map(ConfigValue.string)
        case .strings:
            toml.array.flatMap { array in
                let strings = array.compactMap(\.string)
                return strings.count == array.count ? .strings(strings) : nil
            }
        }
    }

    /// `[listener]` (one table) or `[[listener]]` (an array of them), in
    /// file order; nil when the file has neither.
    func listeners(_ value: TOMLValueConvertible?) throws(ConfigFileError) -> [ListenerConfig]? {
        guard let value else { return nil }
        let section = ConfigKeys.listenerSection
        let tables: [(name: String, table: TOMLTable)]
        if let table = value.table {
            tables = [(section, table)]
        } else if let array = value.array {
            var named: [(String, TOMLTable)] = []
            for (index, element) in array.enumerated() {
                guard let table = element.table else {
                    throw ConfigFileError(file: file, key: "\(section)[\(index + 1)]", problem: "must be a table ([[listener]])")
                }
                named.append(("\(section)[\(index + 1)]", table))
            }
            tables = named
        } else {
            throw ConfigFileError(file: file, key: section, problem: "must be a table ([listener]) or an array of tables ([[listener]])")
        }
        guard !tables.isEmpty else { throw ConfigFileError(file: file, key: section, problem: "needs at least one listener") }
        let allowed = Set(ConfigKeys.listener.map(\.name))
        var listeners: [ListenerConfig] = []
        var addresses: [String: String] = [:]
        for (name, table) in tables {
            try checkKeys(table, allowed: allowed, in: name)
            var listener = ListenerConfig()
            for key in ConfigKeys.listener {
                try apply(key, from: table, to: &listener, as: "\(name).\(key.name)")
            }
            if let (key, problem) = listener.problem {
                throw ConfigFileError(file: file, key: "\(name).\(key)", problem: problem)
            }
            let address = "\(listener.bind):\(listener.port)"
            if listener.port != 0, let other = addresses[address] {
                throw ConfigFileError(file: file, key: "\(name).port", problem: "\(address) is already \(other)'s")
            }
            addresses[address] = name
            listeners.append(listener)
        }
        return listeners
    }

    /// `[[policy]]` tables, in file order (the first match wins).
    func policies(_ value: TOMLValueConvertible?) throws(ConfigFileError) -> [DeliveryPolicy] {
        guard let value else { return [] }
        guard let array = value.array else {
            throw ConfigFileError(
                file: file, key: ConfigKeys.policySection, problem: "must be an array of tables: write each as [[policy]]")
        }
        var policies: [DeliveryPolicy] = []
        let allowed = Set(ConfigKeys.policy.map(\.name))
        for (index, element) in array.enumerated() {
            let name = "\(ConfigKeys.policySection)[\(index + 1)]"
            guard let table = element.table else {
                throw ConfigFileError(file: file, key: name, problem: "must be a table ([[policy]])")
            }
            try checkKeys(table, allowed: allowed, in: name)
            guard table[ConfigKeys.Policy.pattern.name] != nil else {
                throw ConfigFileError(file: file, key: "\(name).pattern", problem: "is required: the topic filter the policy applies to")
            }
            var policy = DeliveryPolicy(pattern: "")
            for key in ConfigKeys.policy {
                try apply(key, from: table, to: &policy, as: "\(name).\(key.name)")
            }
            guard policy.messageTTL != nil || policy.maxDeliveryAttempts != nil || policy.maxLength != nil else {
                throw ConfigFileError(
                    file: file, key: name, problem: "sets nothing: give message_ttl, max_delivery_attempts and/or max_length")
            }
            policies.append(policy)
        }
        return policies
    }
}

extension ConfigTableReader {
    /// One TOML value as written after `key =`, read as `kind`; nil when it is
    /// not TOML or not of that kind. For holding documentation to the keys.
    static func literal(_ text: String, as kind: ConfigKind) -> ConfigValue? {
        guard let table = try? TOMLTable(string: "value = \(text)"), let toml = table["value"] else { return nil }
        return value(toml, as: kind)
    }
}
