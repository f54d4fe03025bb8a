import DequeModule
import WharfMQTT

/// Flow control as the publishing connection lives it: paused or not (a
/// subscriber queue past its high-water mark, see `PublisherPacing`), and
/// the PUBLISH packets decoded after the pause began, routed in order when
/// it ends. A value type: the handler switches reading off and on and runs
/// the pause timer.
struct PublisherPause {
    private(set) var isPaused = false
    private var deferred = Deque<PublishPacket>()

    var deferredCount: Int { deferred.count }

    /// Returns true if this begins a pause (reading must stop now).
    mutating func pause() -> Bool {
        guard !isPaused else { return false }
        isPaused = true
        return true
    }

    /// Returns true if this ends a pause.
    mutating func resume() -> Bool {
        guard isPaused else { return false }
        isPaused = false
        return true
    }

    /// A PUBLISH that arrived while paused: routed later, in order.
    mutating func deferPublish(_ publish: PublishPacket) {
        deferred.append(publish)
    }

    /// A deferred PUBLISH taken out that may not go yet: first again.
    mutating func putBack(_ publish: PublishPacket) {
        deferred.prepend(publish)
    }

    /// The next deferred PUBLISH to route, unless routing paused again
    /// (`ignoringPause`: the connection is ending and everything goes now).
    mutating func nextDeferred(ignoringPause: Bool) -> PublishPacket? {
        guard !isPaused || ignoringPause else { return nil }
        return deferred.popFirst()
    }

    mutating func dropDeferred() {
        deferred.removeAll()
    }
}
