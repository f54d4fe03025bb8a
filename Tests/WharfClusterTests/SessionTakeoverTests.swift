import Testing

@testable import WharfCluster

/// The takeover types against the spin model's rules: the cases by hand,
/// then seeded random runs of three nodes in which connects, release
/// requests and answers, crashes, lost NATS links, lapses and disconnects
/// interleave. No run may let two nodes deliver at once; and with the
/// naive claim (ask only the last owner) the same runs must find one,
/// or they would prove nothing.
@Suite struct SessionTakeoverTests {
    @Test func aFirstConnectAsksNobody() {
        let claim = SessionClaim(current: nil, node: "a")
        #expect(claim.record == SessionOwnership(epoch: 1, owner: "a", connected: true))
        #expect(claim.ask.isEmpty && !claim.closesOwnOlder)
        #expect(ReleaseWait(claim).mayDeliver)
    }

    @Test func aClaimAsksTheConnectedOwnerAndEveryUnreleasedNode() {
        let current = SessionOwnership(epoch: 2, owner: "b", connected: true, unreleased: ["a"])
        let claim = SessionClaim(current: current, node: "c")
        #expect(claim.record == SessionOwnership(epoch: 3, owner: "c", connected: true, unreleased: ["a", "b"]))
        #expect(claim.ask == ["a", "b"])
        // A disconnected owner delivers nothing; what it left unreleased still may.
        let after = SessionClaim(current: current.disconnected, node: "c")
        #expect(after.ask == ["a"])
        // The owner's own node takes its connection over by itself.
        let own = SessionClaim(current: current, node: "b")
        #expect(own.ask == ["a"] && own.closesOwnOlder)
    }

    /// Spin's counterexample to the study's protocol: A delivers epoch 1; B
    /// wins epoch 2 and asks A; C wins epoch 3 before A answered. C must
    /// wait for A too, though B (only waiting) releases at once.
    @Test func theModelsCounterexampleWaitsForTheNodeStillDelivering() {
        let first = SessionClaim(current: nil, node: "a").record
        let b = SessionClaim(current: first, node: "b")
        let c = SessionClaim(current: b.record, node: "c")
        var bWait = ReleaseWait(b)
        var cWait = ReleaseWait(c)
        bWait.releaseRequested(epoch: c.record.epoch)
        #expect(bWait.abandoned)
        cWait.released(by: "b", epoch: 3)
        #expect(!cWait.mayDeliver, "A still delivers epoch 1")
        cWait.released(by: "a", epoch: 2)
        #expect(!cWait.mayDeliver, "an answer to B's request is not one to C's")
        cWait.released(by: "a", epoch: 3)
        #expect(cWait.mayDeliver)
    }

    @Test func aReleaseClosesAndAbandonsOnlyOlderEpochs() {
        let decision = ReleaseDecision(epoch: 3, delivering: 2, waiting: 2)
        #expect(decision.closeConnection && decision.abandonConnect)
        let late = ReleaseDecision(epoch: 3, delivering: 4, waiting: 5)
        #expect(!late.closeConnection && !late.abandonConnect)
        let idle = ReleaseDecision(epoch: 3, delivering: nil, waiting: nil)
        #expect(!idle.closeConnection && !idle.abandonConnect)
    }

    @Test func randomInterleavingsNeverLetTwoNodesDeliver() {
        for seed in UInt64(1)...3_000 {
            var world = TakeoverWorld(seed: seed, naive: false)
            world.run(steps: 400)
            #expect(world.doubleDelivery == nil, "seed \(seed): \(world.doubleDelivery ?? "")")
            if world.doubleDelivery != nil { return }
        }
    }

    @Test func theSameRunsCatchTheNaiveClaim() {
        var caught = 0
        for seed in UInt64(1)...3_000 {
            var world = TakeoverWorld(seed: seed, naive: true)
            world.run(steps: 400)
            if world.doubleDelivery != nil { caught += 1 }
        }
        #expect(caught > 0, "no run found the naive protocol's double delivery: the runs check nothing")
    }
}

/// Three nodes and one session, driven by a seeded generator: the spin
/// model's world (Tests/Models/session_takeover.pml) over the real types.
struct TakeoverWorld {
    struct Connect {
        var boot: Int
        var readRevision: Int?
        var read: SessionOwnership?
        var ask: [String] = []
        var wait: ReleaseWait?
        var asked = false
        var revisionWritten = 0
    }

    struct Node {
        var up = true
        var linked = true
        var live = true
        var boot = 0
        var delivering: UInt64?
        var connect: Connect?
        var running: Bool { up && linked }
    }

    let names = ["a", "b", "c"]
    let naive: Bool
    var random: SplitMix
    var nodes = [Node](repeating: Node(), count: 3)
    var revision = 0
    var record: SessionOwnership?
    /// Requests on their way: (to, epoch, from); answers: (to, epoch, by).
    var requests: [(Int, UInt64, Int)] = []
    var answers: [(Int, UInt64, String)] = []
    var connectsLeft = 4
    var crashesLeft = 1
    var cutsLeft = 1
    var doubleDelivery: String?

    init(seed: UInt64, naive: Bool) {
        random = SplitMix(seed: seed)
        self.naive = naive
    }

    mutating func run(steps: Int) {
        for _ in 0..<steps where doubleDelivery == nil { step() }
    }

    private mutating func step() {
        let node = Int(random.next() % 3)
        switch random.next() % 12 {
        case 0, 1:
            if connectsLeft > 0, nodes[node].up, nodes[node].connect == nil {
                connectsLeft -= 1
                nodes[node].connect = Connect(boot: nodes[node].boot)
            }
        case 2, 3, 4: advanceConnect(node)
        case 5:
            if !requests.isEmpty { deliverRequest(Int(random.next() % UInt64(requests.count))) }
        case 6:
            if !answers.isEmpty { deliverAnswer(Int(random.next() % UInt64(answers.count))) }
        case 7:
            if crashesLeft > 0, nodes[node].up {
                crashesLeft -= 1
                nodes[node].up = false
                nodes[node].delivering = nil
                nodes[node].connect = nil
                nodes[node].boot += 1
            } else if !nodes[node].up {
                nodes[node].up = true
                if nodes[node].linked { nodes[node].live = true }
            }
        case 8:
            if cutsLeft > 0, nodes[node].linked {
                cutsLeft -= 1
                nodes[node].linked = false
            } else if !nodes[node].linked {
                nodes[node].linked = true
                if nodes[node].up { nodes[node].live = true }
            }
        case 9:
            // Self-fencing, then the lapse it allows.
            if nodes[node].up, !nodes[node].linked {
                nodes[node].delivering = nil
                nodes[node].connect = nil
            }
            if !nodes[node].running, nodes[node].delivering == nil, nodes[node].connect?.wait == nil {
                nodes[node].live = false
            }
        case 10:
            // A clean disconnect: connected = false if the record is still its own.
            if nodes[node].running, let epoch = nodes[node].delivering {
                if let current = record, current.owner == names[node], current.epoch == epoch {
                    record = current.disconnected
                    revision += 1
                }
                nodes[node].delivering = nil
            }
        default:
            // Lapses seen by waiting connects.
            for index in 0..<3 where nodes[index].connect?.wait != nil {
                for (other, state) in nodes.enumerated() where !state.live {
                    nodes[index].connect?.wait?.leaseLapsed(names[other])
                }
            }
        }
        let count = nodes.filter { $0.delivering != nil }.count
        if count > 1 {
            doubleDelivery = nodes.enumerated().compactMap { index, node in
                node.delivering.map { "\(names[index]) delivers epoch \($0)" }
            }.joined(separator: ", ")
        }
    }

    private mutating func advanceConnect(_ node: Int) {
        guard var connect = nodes[node].connect, nodes[node].up, connect.boot == nodes[node].boot else { return }
        if let wait = connect.wait {
            if wait.abandoned {
                nodes[node].connect = nil
            } else if !connect.asked {
                guard nodes[node].running else { return }
                connect.asked = true
                for name in connect.ask {
                    requests.append((names.firstIndex(of: name)!, wait.epoch, node))
                }
                nodes[node].connect = connect
            } else if wait.mayDeliver {
                nodes[node].delivering = wait.epoch
                nodes[node].connect = nil
                // The fence is done: cleared by CAS on the revision it wrote.
                if nodes[node].running, revision == connect.revisionWritten, let current = record {
                    record = current.fenced
                    revision += 1
                }
            }
            return
        }
        guard nodes[node].running else { return }
        guard let readRevision = connect.readRevision else {
            connect.readRevision = revision
            connect.read = record
            nodes[node].connect = connect
            return
        }
        guard readRevision == revision else {
            // Lost the CAS: read again.
            nodes[node].connect = Connect(boot: connect.boot)
            return
        }
        let claim = SessionClaim(current: connect.read, node: names[node])
        var written = claim.record
        var ask = claim.ask
        if naive {
            // The design study's claim: ask the connected owner only.
            ask = connect.read.flatMap { $0.connected && $0.owner != names[node] ? [$0.owner] : nil } ?? []
            written.unreleased = []
        }
        // An older connection of its own closes at once.
        nodes[node].delivering = nil
        record = written
        revision += 1
        connect.revisionWritten = revision
        connect.ask = ask
        connect.wait = ReleaseWait(epoch: written.epoch, asking: ask)
        nodes[node].connect = connect
    }

    private mutating func deliverRequest(_ index: Int) {
        let (node, epoch, from) = requests.remove(at: index)
        guard nodes[node].running else { return }  // lost
        let decision = ReleaseDecision(
            epoch: epoch, delivering: nodes[node].delivering, waiting: nodes[node].connect?.wait?.epoch)
        if decision.closeConnection { nodes[node].delivering = nil }
        nodes[node].connect?.wait?.releaseRequested(epoch: epoch)
        answers.append((from, epoch, names[node]))
    }

    private mutating func deliverAnswer(_ index: Int) {
        let (node, epoch, by) = answers.remove(at: index)
        guard nodes[node].running else { return }
        nodes[node].connect?.wait?.released(by: by, epoch: epoch)
    }
}

/// A small seeded generator: the same seed, the same run.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE5_E9B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
