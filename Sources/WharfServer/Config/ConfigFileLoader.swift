import Foundation
import TOMLKit

/// Reads a TOML configuration file over the defaults, with the keys
/// `ConfigKeys` declares. Unknown keys are errors, not silently ignored: a
/// typo in a limit must not leave the default in force.
public enum ConfigFileLoader {
    public static func load(path: String, over base: ServerConfig = ServerConfig()) throws(ConfigFileError) -> ServerConfig {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigFileError(file: path, problem: "cannot be read (\(error.localizedDescription))")
        }
        return try parse(text, file: path, over: base)
    }

    public static func parse(_ text: String, file: String, over base: ServerConfig = ServerConfig()) throws(ConfigFileError) -> ServerConfig
    {
        let root: TOMLTable
        do {
            root = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw ConfigFileError(file: file, line: error.source.begin.line, problem: "not valid TOML: \(error.description)")
        } catch {
            throw ConfigFileError(file: file, problem: "not valid TOML: \(error)")
        }
        var config = base
        let reader = ConfigTableReader(file: file)
        let known = ConfigKeys.sectionNames
        for name in root.keys where !known.contains(name) {
            throw ConfigFileError(file: file, key: name, problem: "unknown section (known: \(known.sorted().joined(separator: ", ")))")
        }
        config.policies = try reader.policies(root[ConfigKeys.policySection])
        if let listeners = try reader.listeners(root[ConfigKeys.listenerSection]) { config.listeners = listeners }
        for section in ConfigKeys.sections {
            guard let value = root[section.name] else { continue }
            guard let table = value.table else {
                throw ConfigFileError(file: file, key: section.name, problem: "must be a table ([\(section.name)])")
            }
            try reader.checkKeys(table, allowed: section.keyNames, in: section.name)
            for key in section.keys {
                try reader.apply(key, from: table, to: &config)
            }
            if let (key, problem) = section.rule?(config) {
                throw ConfigFileError(file: file, key: key, problem: problem)
            }
        }
        return config
    }
}
