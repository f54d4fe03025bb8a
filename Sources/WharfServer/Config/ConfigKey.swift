/// One configuration key, declared once (in `ConfigKeys`): where it lives in
/// the file, what it takes, its default, its one-line doc and its flag. The
/// TOML reader, `wharf serve`'s flags and the README test all work from it.
///
/// `Root` is what the key sets: `ServerConfig`, or a `DeliveryPolicy` for the
/// keys of a `[[policy]]` table.
public struct ConfigKey<Root>: Sendable {
    /// The TOML table: `listener` for `[listener]`, `policy` for `[[policy]]`.
    public let section: String
    public let name: String
    public let kind: ConfigKind
    public let defaultValue: ConfigDefault
    /// What the README's configuration block says beside the key.
    public let doc: String
    /// The `wharf serve` flag that overrides the file, if any.
    public let flag: ConfigFlag?
    /// Sets the value, already coerced and range-checked by `kind`; throws
    /// what is wrong with it beyond that (a format, a name). `file` is the
    /// config file the value came from (nil for a flag).
    let assign: @Sendable (inout Root, ConfigValue, _ file: String?) throws(ConfigProblem) -> Void

    init(
        section: String, name: String, kind: ConfigKind, defaultValue: ConfigDefault, doc: String, flag: ConfigFlag?,
        assign: @escaping @Sendable (inout Root, ConfigValue, _ file: String?) throws(ConfigProblem) -> Void
    ) {
        self.section = section
        self.name = name
        self.kind = kind
        self.defaultValue = defaultValue
        self.doc = doc
        self.flag = flag
        self.assign = assign
    }

    /// `limits.max_connections`, as errors name it.
    public var path: String { "\(section).\(name)" }

    /// Checks `value` (type, range, format) and sets it: the one path for a
    /// value from the file and from a flag.
    public func apply(_ value: ConfigValue, to root: inout Root, file: String? = nil) throws(ConfigProblem) {
        try assign(&root, kind.check(value), file)
    }

    /// The flag's help: its text with the default (or an example) added.
    public var help: String {
        guard let flag else { return doc }
        if flag.isSwitch { return "\(flag.help)." }
        let note = flag.note.map { "; \($0)" } ?? ""
        switch defaultValue {
        case .value(let value), .appliedBy(_, let value): return "\(flag.help) (default \(value.plain)\(note))."
        case .unset(let example): return "\(flag.help) (like \(example.plain)\(note))."
        }
    }
}

/// A key's default, as `ConfigFileLoader` leaves it when the key is absent.
public enum ConfigDefault: Sendable, Equatable {
    /// `ServerConfig()` (or `DeliveryPolicy`) starts with this value.
    case value(ConfigValue)
    /// Left unset (nil) here; `owner` uses this value in its place.
    case appliedBy(_ owner: String, ConfigValue)
    /// Nothing unless set; the README shows `example`.
    case unset(example: ConfigValue)

    /// What the README's configuration block shows for the key.
    public var documented: ConfigValue {
        switch self {
        case .value(let value), .appliedBy(_, let value): value
        case .unset(let example): example
        }
    }
}

/// The `wharf serve` flag for a key.
public struct ConfigFlag: Sendable, Equatable {
    /// Without the dashes: `port` for `--port`.
    public let name: String
    /// The help text before the default is added, without a final full stop.
    public let help: String
    /// Said after the default: "0 picks a free port".
    public let note: String?
    /// A switch (`--in-memory`) that sets the key to false; an option takes a value.
    public let isSwitch: Bool

    /// `--name VALUE`.
    public static func option(_ name: String, _ help: String, note: String? = nil) -> ConfigFlag {
        ConfigFlag(name: name, help: help, note: note, isSwitch: false)
    }

    /// `--name`, which sets the key to false.
    public static func off(_ name: String, _ help: String) -> ConfigFlag {
        ConfigFlag(name: name, help: help, note: nil, isSwitch: true)
    }
}
