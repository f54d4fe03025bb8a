/// Why a JetStream request did not give the answer we wanted.
///
/// `api` is the server saying no; the others are about the exchange itself,
/// and `timeout` and `noResponders` are raised by the connection layer (the
/// reply never came; a 503 status said nobody serves the subject, which is
/// what a missing JetStream or a lost meta leader looks like from a client).
public enum JetStreamError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The server's `{"error":{...}}` reply.
    case api(JetStreamAPIError)
    /// A reply that is neither the expected type nor an error object.
    case decoding(String)
    /// A request we could not turn into JSON.
    case encoding(String)
    case timeout
    case noResponders
    /// The connection failed the request otherwise: lost before the reply
    /// (outcome unknown), closed, or too much waiting for a server.
    case connection(NATSError)
    /// A stream exists with a config that STREAM.UPDATE cannot change into
    /// ours (the members in the way); an operator must decide.
    case incompatibleStream(name: String, members: [String])

    /// The server's error, when that is what this is.
    public var apiError: JetStreamAPIError? {
        if case .api(let error) = self { return error }
        return nil
    }

    public var description: String {
        switch self {
        case .api(let error): return "JetStream API error: \(error)"
        case .decoding(let why): return "undecodable JetStream reply: \(why)"
        case .encoding(let why): return "unencodable JetStream request: \(why)"
        case .timeout: return "JetStream request timed out"
        case .noResponders: return "no responders for the JetStream request"
        case .connection(let error): return "JetStream request failed: \(error)"
        case .incompatibleStream(let name, let members):
            return "stream \(name) exists with other \(members.joined(separator: ", ")), which cannot be changed in place"
        }
    }
}
