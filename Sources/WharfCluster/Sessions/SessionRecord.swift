import Foundation
import NIOCore
import WharfCore
import WharfMQTT

/// A persistent session's record in cluster mode: everything another node
/// needs to take the session over, except its queue (a stream) and its
/// QoS 2 exchanges. JSON, so an operator can read it with any NATS tool;
/// written only by compare-and-swap on its revision (`ownership` says why).
public struct SessionRecord: Codable, Sendable, Equatable {
    /// The format; a node refuses a record of a later one rather than
    /// rewrite it without what it does not know.
    public static let currentVersion = 1

    public var version: Int
    public var clientId: String
    public var ownership: SessionOwnership
    /// The boot id of the owner's run that claimed it (`ClusterNode.bootId`):
    /// a record still connected under an older run of its owner lost its
    /// connection in a crash. Nil in records written before it existed.
    public var ownerBoot: String?
    /// Seconds the session outlives its connection (`UInt32.max`: forever).
    public var expiryInterval: UInt32
    /// When its last connection ended, Unix nanoseconds; nil while connected.
    public var disconnectedAt: UInt64?
    public var subscriptions: [Subscription]
    public var will: Will?
    /// QoS 2 deliveries from the session's queue, or that a consumer group
    /// handed over, past PUBREC, awaiting
    /// PUBCOMP: a new connection sends PUBREL for them. Nil when none (and
    /// in records written before it existed).
    public var released: [Released]?
    /// Inbound QoS 2 exchanges awaiting PUBREL, held from before their
    /// message was routed: a node the client sends the PUBLISH again routes
    /// it again under the same identity unless it was routed in full, and
    /// acknowledges it either way. Nil when none.
    public var received: [Received]?
    /// The highest place in the session's queue its last connection had
    /// sent and not had acknowledged when it ended: the next connection
    /// sends the queue up to there with DUP. Nil when none (and while
    /// connected: a record still connected after a crash says nothing of
    /// what was sent, so the whole queue then counts as maybe sent).
    public var sentThrough: UInt64?
    /// Places in the queue of QoS 2 deliveries completed (PUBCOMP) but not
    /// purged yet: the next connection does not send them again. Nil when
    /// none.
    public var completed: [UInt64]?
    /// What the queue's reader handed over last (`ReplayedEntryFilter`):
    /// the next node tells entries a restarted server stored twice from new
    /// ones by it. Nil before anything was (and in records written before
    /// it existed).
    public var handedOver: ReplayedEntryFilter.Snapshot?
    /// The packet id the session gave out last, as of its last PUBREC here
    /// (`Session.continuePacketIds` says why). Nil in older records.
    public var lastPacketId: UInt16?

    public struct Received: Codable, Sendable, Equatable {
        public var packetId: UInt16
        /// The exchange's identity (`InboundExchange`): the epoch of the
        /// connection it arrived on first, and its number there.
        public var epoch: UInt64
        public var serial: UInt64
        public var routed: Bool

        public init(_ exchange: ClusterReceivedExchange) {
            packetId = exchange.packetId
            epoch = exchange.epoch
            serial = exchange.serial
            routed = exchange.routed
        }

        public var exchange: ClusterReceivedExchange {
            ClusterReceivedExchange(packetId: packetId, epoch: epoch, serial: serial, routed: routed)
        }
    }

    public struct Released: Codable, Sendable, Equatable {
        public var packetId: UInt16
        /// The delivery's place in the session's queue (`WHARF_Q`); 0 for
        /// one a consumer group handed over.
        public var sequence: UInt64
        /// For one a consumer group handed over: its entry's place in the
        /// groups' queue (`WHARF_G`); while the record names it, no node
        /// gives the entry to a member again. Kept past PUBCOMP (with
        /// `packetId` 0: no PUBREL is owed) until the entry's delete from
        /// that queue has landed. Nil otherwise (and in older records).
        public var groupSequence: UInt64?

        public init(packetId: UInt16, sequence: UInt64, groupSequence: UInt64? = nil) {
            self.packetId = packetId
            self.sequence = sequence
            self.groupSequence = groupSequence
        }
    }

    public struct Subscription: Codable, Sendable, Equatable {
        public var filter: String
        public var qos: UInt8
        public var noLocal: Bool
        public var retainAsPublished: Bool
        public var retainHandling: UInt8
        /// 5.0 subscription identifier; 0: none.
        public var identifier: UInt32

        public init(_ subscription: SubscribePacket.Subscription, identifier: UInt32) {
            filter = subscription.filter
            qos = subscription.qos.rawValue
            noLocal = subscription.noLocal
            retainAsPublished = subscription.retainAsPublished
            retainHandling = subscription.retainHandling
            self.identifier = identifier
        }

        /// Nil for options no MQTT client can have asked for (a record
        /// written by something else): refused, never guessed at.
        public var packet: SubscribePacket.Subscription? {
            guard let qos = QoS(rawValue: qos), retainHandling <= 2, !filter.isEmpty else { return nil }
            return SubscribePacket.Subscription(
                filter: filter, qos: qos, noLocal: noLocal, retainAsPublished: retainAsPublished, retainHandling: retainHandling)
        }
    }

    /// The will, kept from CONNECT on, so that another node can publish it
    /// if this one dies.
    public struct Will: Codable, Sendable, Equatable {
        /// The will message as a `ClusterEnvelope` (topic, QoS, retain,
        /// properties, payload): base64 in the JSON.
        public var envelope: Data
        public var delaySeconds: UInt32

        public init(_ message: Message, delaySeconds: UInt32, clock: WallClock = .now()) {
            envelope = Data(ClusterEnvelope.encode(message, clock: clock).readableBytesView)
            self.delaySeconds = delaySeconds
        }

        public func message(clock: WallClock = .now()) -> Message? {
            ClusterEnvelope.decode(ByteBuffer(bytes: envelope), clock: clock)
        }
    }

    public init(
        clientId: String, ownership: SessionOwnership, ownerBoot: String? = nil, expiryInterval: UInt32,
        disconnectedAt: UInt64? = nil, subscriptions: [Subscription] = [], will: Will? = nil
    ) {
        version = Self.currentVersion
        self.clientId = clientId
        self.ownership = ownership
        self.ownerBoot = ownerBoot
        self.expiryInterval = expiryInterval
        self.disconnectedAt = disconnectedAt
        self.subscriptions = subscriptions
        self.will = will
    }

    public enum DecodingProblem: Error, Equatable, CustomStringConvertible {
        case notARecord(String)
        case laterVersion(Int)

        public var description: String {
            switch self {
            case .notARecord(let reason): "not a session record: \(reason)"
            case .laterVersion(let version):
                "session record version \(version) is later than this node's \(SessionRecord.currentVersion): upgrade the node"
            }
        }
    }

    public static func decode(_ bytes: ByteBuffer) -> Result<SessionRecord, DecodingProblem> {
        let data = Data(bytes.readableBytesView)
        struct Versioned: Decodable { var version: Int }
        do {
            let version = try JSONDecoder().decode(Versioned.self, from: data).version
            guard version <= currentVersion else { return .failure(.laterVersion(version)) }
            return .success(try JSONDecoder().decode(SessionRecord.self, from: data))
        } catch {
            return .failure(.notARecord("\(error)"))
        }
    }

    public func encoded() -> ByteBuffer {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        // Encoding plain fields cannot fail.
        return ByteBuffer(bytes: (try? encoder.encode(self)) ?? Data())
    }
}
