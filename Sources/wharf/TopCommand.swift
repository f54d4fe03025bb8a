import ArgumentParser
import WharfTop

/// `wharf top`: the live dashboard for one or more running brokers.
struct TopCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "top",
        abstract: "Watch one or more running brokers live (queue depth, lag, latency, clients, topics)."
    )

    @Option(
        name: .customLong("url"),
        help: "A broker's metrics address, http://HOST:PORT or https://HOST:PORT. Repeat for several nodes.")
    var urls: [String] = ["http://127.0.0.1:18883"]

    @Option(help: "PEM file of the CA(s) an https broker's certificate must chain to (default: the system's roots).")
    var caFile: String?

    @Option(help: "File holding the bearer token of the brokers' [metrics] token_file; sent as Authorization: Bearer.")
    var tokenFile: String?

    @Flag(help: "Cluster mode: also watch every live node of the cluster the --url nodes belong to (found from one).")
    var cluster = false

    @OptionGroup var dashboard: DashboardOptions

    func run() async throws {
        if dashboard.listedThemes() { return }
        var endpoints: [SnapshotEndpoint]
        do {
            endpoints = try urls.map { text throws(EndpointError) in try SnapshotEndpoint(parsing: text) }
        } catch {
            throw ValidationError(error.description)
        }
        let access: SnapshotAccess
        do {
            access = try SnapshotAccess(caFile: caFile, tokenFile: tokenFile, needsTLS: endpoints.contains(where: \.usesTLS))
        } catch {
            throw ValidationError(error.description)
        }
        if cluster { endpoints = await ClusterDiscovery.endpoints(from: endpoints, access: access) }
        let options = try dashboard.resolve()
        let theme = try dashboard.loadTheme(options.theme)
        try DashboardOptions.requireTerminal()
        let termination = TerminationSignal()
        TopApp(endpoints: endpoints, interval: options.interval, theme: theme, thresholds: options.thresholds, access: access)
            .run { termination.received != nil }
    }
}
