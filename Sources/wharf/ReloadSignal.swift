import Logging
import UnixSignals
import WharfServer

/// SIGHUP re-reads the files an operator may replace while the broker runs
/// (see `BrokerServer.reload`), as Mosquitto and nginx do. Trapped from the
/// start: SIGHUP's default action would end the process, mid-recovery even.
struct ReloadSignal: Sendable {
    private let signals: UnixSignalsSequence

    init() async {
        signals = await UnixSignalsSequence(trapping: .sighup)
    }

    /// Reloads at each SIGHUP until cancelled: the broker's files and the
    /// metrics listener's.
    func reload(_ server: BrokerServer, services: BrokerServices, logger: Logger) async {
        for await _ in signals {
            logger.info("received SIGHUP")
            services.reload(server)
        }
    }
}
