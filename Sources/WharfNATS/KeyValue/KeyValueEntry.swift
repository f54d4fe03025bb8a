import NIOCore

/// One revision of a key in a KV bucket.
public struct KeyValueEntry: Sendable {
    public enum Operation: String, Sendable, Hashable {
        case put = "PUT"
        case delete = "DEL"
        case purge = "PURGE"
    }

    public var bucket: String
    public var key: String
    public var value: ByteBuffer
    /// The stream sequence of this revision: what `update` compares against.
    public var revision: UInt64
    public var created: JetStreamTimestamp?
    public var operation: Operation
    /// Headers stored beside the value (beyond the KV ones).
    public var headers: NATSHeaders

    public init(
        bucket: String, key: String, value: ByteBuffer, revision: UInt64, created: JetStreamTimestamp?,
        operation: Operation, headers: NATSHeaders = NATSHeaders()
    ) {
        self.bucket = bucket
        self.key = key
        self.value = value
        self.revision = revision
        self.created = created
        self.operation = operation
        self.headers = headers
    }

    static let operationHeader = "KV-Operation"

    static func operation(in headers: NATSHeaders?) -> Operation {
        headers?[operationHeader].flatMap(Operation.init(rawValue:)) ?? .put
    }
}

/// Why a KV operation failed.
public enum KeyValueError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Keys are `[-/_=.a-zA-Z0-9]+`, not starting or ending with `.`.
    case invalidKey(String)
    /// `create` of a key that holds a value.
    case keyExists(String, revision: UInt64)
    /// `update` against a revision that is no longer the last.
    case wrongLastRevision(String)
    case jetStream(JetStreamError)

    public var description: String {
        switch self {
        case .invalidKey(let key): return "invalid key \(key.debugDescription)"
        case .keyExists(let key, let revision): return "key \(key) exists (revision \(revision))"
        case .wrongLastRevision(let key): return "key \(key) changed since the revision given"
        case .jetStream(let error): return "\(error)"
        }
    }

    static func validate(_ key: String) throws(KeyValueError) {
        guard !key.isEmpty, key.first != ".", key.last != ".",
            key.utf8.allSatisfy({ byte in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                    return true
                case UInt8(ascii: "-"), UInt8(ascii: "/"), UInt8(ascii: "_"), UInt8(ascii: "="), UInt8(ascii: "."):
                    return true
                default:
                    return false
                }
            }), !key.contains("..")
        else { throw .invalidKey(key) }
    }
}
