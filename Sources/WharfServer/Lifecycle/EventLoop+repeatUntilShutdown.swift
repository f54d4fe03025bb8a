import NIOCore
import ServiceLifecycle

extension EventLoop {
    /// Runs `work` on this loop every `interval` until the calling service is
    /// told to shut down gracefully, or is cancelled; returns once it will
    /// not run again (not in the middle of a run).
    func repeatUntilShutdown(initialDelay: TimeAmount, every interval: TimeAmount, _ work: @escaping @Sendable () -> Void) async {
        let task = scheduleRepeatedTask(initialDelay: initialDelay, delay: interval) { _ in work() }
        try? await gracefulShutdown()
        let cancelled = makePromise(of: Void.self)
        task.cancel(promise: cancelled)
        try? await cancelled.futureResult.get()
    }
}
