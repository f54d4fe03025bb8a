import WharfCore

/// `[storage]`: the durable store. Each key turns the store on (with the
/// defaults for what it does not set), except `enabled = false`.
extension ConfigKeys {
    public enum Storage {
        public static let dataDirectory = ConfigKey<ServerConfig>.string(
            "storage", "data_dir", default: .value("wharf-data"), doc: "relative to the working directory",
            flag: .option("data-dir", "Data directory of the durable store"),
            problem: { $0.isEmpty ? "must not be empty" : nil }
        ) { config, directory in config.withStorage { $0.directory = directory } }
        public static let fsync = ConfigKey<ServerConfig>.parsed(
            "storage", "fsync", default: .value("always"), doc: "\"always\": acknowledged means on disk; \"every 50ms\"; \"never\"",
            flag: .option("fsync", "When writes are made durable: always (acknowledged means on disk), never, or \"every 50ms\""),
            expecting: "\"always\", \"never\" or \"every <ms>ms\"", parse: LocalLogOptions.FsyncPolicy.init(parsing:)
        ) { config, policy in config.withStorage { $0.fsync = policy } }
        public static let segmentSize = ConfigKey<ServerConfig>.parsed(
            "storage", "segment_size", default: .value("64MiB"), doc: "a new segment file past this size",
            expecting: "a size of at least 64KiB (like \"64MiB\")",
            parse: { LocalLogOptions.parseSize($0).flatMap { $0 >= 64 << 10 ? $0 : nil } }
        ) { config, bytes in config.withStorage { $0.segmentBytes = bytes } }
        public static let quota = ConfigKey<ServerConfig>.parsed(
            "storage", "quota", default: .unset(example: "10GiB"),
            doc: "optional; past it new messages are refused (no quota by default)",
            flag: .option("storage-quota", "Refuse new messages past this much on disk"),
            expecting: "a size (like \"10GiB\")", parse: LocalLogOptions.parseSize
        ) { config, bytes in config.withStorage { $0.quotaBytes = bytes } }
        /// Applied after the others: false discards what they set.
        public static let enabled = ConfigKey<ServerConfig>.bool(
            "storage", "enabled", default: .value(true), doc: "false: keep everything in memory (as --in-memory)",
            flag: .off("in-memory", "Keep everything in memory: nothing survives a restart")
        ) { config, enabled in
            if enabled { config.withStorage { _ in } } else { config.storage = nil }
        }
        static let section = ConfigSection("storage", [dataDirectory, fsync, segmentSize, quota, enabled])
    }
}

extension ServerConfig {
    /// Changes the store's options, turning the store on if it was off.
    mutating func withStorage(_ change: (inout LocalLogOptions) -> Void) {
        var options = storage ?? LocalLogOptions()
        change(&options)
        storage = options
    }
}
