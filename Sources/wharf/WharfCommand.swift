import ArgumentParser

@main
struct WharfCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wharf",
        abstract: "An MQTT message broker you can watch live.",
        version: WharfVersion.string,
        subcommands: [
            ServeCommand.self, TopCommand.self, DemoCommand.self, StorageCommand.self, PasswdCommand.self, BenchCommand.self,
            RenderBenchCommand.self, TopBenchCommand.self, RecoveryBenchCommand.self,
        ],
        defaultSubcommand: ServeCommand.self
    )
}

enum WharfVersion {
    static let string = "0.1.0"
}
