import Foundation

/// How `ConfigKeys` declares a key of each kind: the kind, the check and the
/// setter in one place. Each setter gets the value already coerced to its
/// kind and range-checked (see `ConfigKind.check`).
extension ConfigKey {
    static func int(
        _ section: String, _ name: String, _ range: ClosedRange<Int>, default defaultValue: ConfigDefault, doc: String,
        flag: ConfigFlag? = nil, set: @escaping @Sendable (inout Root, Int) -> Void
    ) -> ConfigKey {
        ConfigKey(section: section, name: name, kind: .int(range), defaultValue: defaultValue, doc: doc, flag: flag) {
            (root, value, _) throws(ConfigProblem) in
            if case .int(let int) = value { set(&root, int) }
        }
    }

    static func number(
        _ section: String, _ name: String, _ range: ClosedRange<Double>, default defaultValue: ConfigDefault, doc: String,
        set: @escaping @Sendable (inout Root, Double) -> Void
    ) -> ConfigKey {
        ConfigKey(section: section, name: name, kind: .number(range), defaultValue: defaultValue, doc: doc, flag: nil) {
            (root, value, _) throws(ConfigProblem) in
            if case .number(let number) = value { set(&root, number) }
        }
    }

    static func bool(
        _ section: String, _ name: String, default defaultValue: ConfigDefault, doc: String, flag: ConfigFlag? = nil,
        set: @escaping @Sendable (inout Root, Bool) -> Void
    ) -> ConfigKey {
        ConfigKey(section: section, name: name, kind: .bool, defaultValue: defaultValue, doc: doc, flag: flag) {
            (root, value, _) throws(ConfigProblem) in
            if case .bool(let bool) = value { set(&root, bool) }
        }
    }

    /// A string; `problem` says what is wrong with one it refuses.
    static func string(
        _ section: String, _ name: String, default defaultValue: ConfigDefault, doc: String, flag: ConfigFlag? = nil,
        problem: @escaping @Sendable (String) -> String? = { _ in nil }, set: @escaping @Sendable (inout Root, String) -> Void
    ) -> ConfigKey {
        ConfigKey(section: section, name: name, kind: .string, defaultValue: defaultValue, doc: doc, flag: flag) {
            (root, value, _) throws(ConfigProblem) in
            guard case .string(let string) = value else { return }
            if let problem = problem(string) { throw ConfigProblem(problem) }
            set(&root, string)
        }
    }

    /// A path, taken relative to the config file it is in, so that a config
    /// and the files it names move together.
    static func path(
        _ section: String, _ name: String, default defaultValue: ConfigDefault, doc: String,
        set: @escaping @Sendable (inout Root, String) -> Void
    ) -> ConfigKey {
        ConfigKey(section: section, name: name, kind: .string, defaultValue: defaultValue, doc: doc, flag: nil) { root, value, file in
            guard case .string(let path) = value else { return }
            guard let file, !path.hasPrefix("/") else { return set(&root, path) }
            set(&root, URL(fileURLWithPath: file).deletingLastPathComponent().appendingPathComponent(path).path)
        }
    }

    /// An array of strings; `problem` says what is wrong with an element it refuses.
    static func strings(
        _ section: String, _ name: String, default defaultValue: ConfigDefault, doc: String,
        problem: @escaping @Sendable (String) -> String?, set: @escaping @Sendable (inout Root, [String]) -> Void
    ) -> ConfigKey {
        ConfigKey(section: section, name: name, kind: .strings, defaultValue: defaultValue, doc: doc, flag: nil) {
            (root, value, _) throws(ConfigProblem) in
            guard case .strings(let strings) = value else { return }
            for string in strings { if let problem = problem(string) { throw ConfigProblem(problem) } }
            set(&root, strings)
        }
    }

    /// A string in a format `parse` reads ("64MiB", "every 50ms"); one it
    /// cannot read "must be <expecting>; got <it>".
    static func parsed<Value>(
        _ section: String, _ name: String, default defaultValue: ConfigDefault, doc: String, flag: ConfigFlag? = nil,
        expecting: String, parse: @escaping @Sendable (String) -> Value?, set: @escaping @Sendable (inout Root, Value) -> Void
    ) -> ConfigKey {
        ConfigKey(section: section, name: name, kind: .string, defaultValue: defaultValue, doc: doc, flag: flag) {
            (root, value, _) throws(ConfigProblem) in
            guard case .string(let text) = value else { return }
            guard let parsed = parse(text) else { throw ConfigProblem("must be \(expecting); got \"\(text)\"") }
            set(&root, parsed)
        }
    }

    /// One of a string enumeration's raw values.
    static func choice<Choice: RawRepresentable & CaseIterable & Sendable>(
        _ section: String, _ name: String, of _: Choice.Type, default defaultValue: ConfigDefault, doc: String,
        flag: ConfigFlag? = nil, set: @escaping @Sendable (inout Root, Choice) -> Void
    ) -> ConfigKey where Choice.RawValue == String {
        let names = Choice.allCases.map(\.rawValue)
        let expected = names.count == 2 ? "\(names[0]) or \(names[1])" : "one of \(names.joined(separator: ", "))"
        return ConfigKey(section: section, name: name, kind: .string, defaultValue: defaultValue, doc: doc, flag: flag) {
            (root, value, _) throws(ConfigProblem) in
            guard case .string(let text) = value else { return }
            guard let choice = Choice(rawValue: text) else { throw ConfigProblem("must be \(expected), got \"\(text)\"") }
            set(&root, choice)
        }
    }
}
