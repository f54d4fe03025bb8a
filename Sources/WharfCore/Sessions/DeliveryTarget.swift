/// The live connection a session delivers through. The core calls these from
/// any thread; the server's implementation hops to its event loop once and
/// pulls everything pending, so deliveries are batched per hop, not per message.
public protocol DeliveryTarget: AnyObject, Sendable {
    /// The session has packets ready and no drain is scheduled yet.
    func deliveriesPending()
    /// Another connection with the same client id took the session over:
    /// close this one (3.1.1 section 3.1.4).
    func sessionTakenOver()
    /// This connection was paused as a publisher because a subscriber's queue
    /// passed its high-water mark; that queue has drained, so read again.
    func resumeReading()
    /// The client behind this connection, for the metrics snapshot.
    var clientInfo: ClientInfo? { get }
    /// The broker is stopping: close, telling the client why if it can.
    func serverShuttingDown()
    /// A clock of the time this target's event loop was free to run its
    /// work, in nanoseconds: it stops while the loop is blocked. Flow control
    /// judges a consumer stuck only on time its loop actually had.
    var loopRunningNanos: UInt64 { get }
}

extension DeliveryTarget {
    public var clientInfo: ClientInfo? { nil }
    /// Without a loop to watch, wall-clock time.
    public var loopRunningNanos: UInt64 { Clock.nowNanos() }
    public func serverShuttingDown() {}
}
