import Foundation

/// What a consumer tells the server about one delivered message, as the
/// body of a publish to the message's `$JS.ACK...` reply subject.
public enum AckKind: Sendable, Hashable {
    /// `+ACK`: done; a workqueue stream deletes it.
    case ack
    /// `-NAK`: redeliver; after `delay` if given (`-NAK {"delay":<ns>}`),
    /// otherwise as soon as possible.
    case nak(delay: Duration?)
    /// `+WPI`: still working on it; restarts the ack wait.
    case inProgress
    /// `+TERM`: never redeliver, although it was not processed.
    case terminate
    /// `+NXT`: ack and ask for more on the ack's reply subject, with the
    /// pull request's fields when given (`+NXT {"batch":5}`).
    case next(PullRequest?)

    /// The body to publish.
    public var payload: [UInt8] {
        switch self {
        case .ack: return Array("+ACK".utf8)
        case .nak(nil): return Array("-NAK".utf8)
        case .nak(let delay?): return Array("-NAK {\"delay\":\(delay.jetStreamNanoseconds)}".utf8)
        case .inProgress: return Array("+WPI".utf8)
        case .terminate: return Array("+TERM".utf8)
        case .next(nil): return Array("+NXT".utf8)
        case .next(let request?):
            // A PullRequest holds only integers and booleans, so encoding
            // cannot fail; fall back to the bare form if it ever did.
            guard let json = try? JetStreamRequest.encode(request) else { return Array("+NXT".utf8) }
            return Array("+NXT ".utf8) + Array(json)
        }
    }
}
