import Logging
import ServiceLifecycle
import UnixSignals

/// SIGTERM and SIGINT end `wharf serve` through a graceful shutdown of its
/// service group (SIGHUP is kept for reloads).
///
/// The signals are trapped here, with the library's `UnixSignalsSequence`,
/// rather than by the group's `gracefulShutdownSignals`. Those are trapped
/// only once the group runs, so a signal during the store's recovery would
/// kill the process mid-recovery; and the group reports the signal at debug
/// level only. Here "received SIGTERM, shutting down" is logged before any
/// service stops.
struct ShutdownSignals: Sendable {
    private let signals: UnixSignalsSequence

    /// Traps the signals from here on; one that comes before `shutDown` waits for it.
    init() async {
        signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
    }

    /// At the first signal, logs it and starts the group's graceful shutdown.
    /// Returns without doing anything if cancelled first.
    func shutDown(_ group: ServiceGroup, logger: Logger) async {
        for await signal in signals {
            logger.info("received \(signal), shutting down")
            await group.triggerGracefulShutdown()
            return
        }
    }
}
