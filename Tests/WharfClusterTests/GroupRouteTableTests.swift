import Testing
import WharfCore

@testable import WharfCluster

/// `GroupRouteTable`: a group stays in the tree while any node with members
/// or any session record holds it, so taking every member over at once
/// (each leaves its old node before it joins on the new one) does not
/// leave the group unrouted.
@Suite struct GroupRouteTableTests {
    static func describe(_ change: GroupRouteTable.Change?) -> String {
        switch change {
        case .add(let group)?: "+\(group.name) \(group.filter) \(group.address)"
        case .remove(let group)?: "-\(group.name) \(group.filter)"
        case nil: "none"
        }
    }

    @Test func theFirstHolderAddsTheGroupAndTheLastRemovesIt() {
        var table = GroupRouteTable()
        let share = "$share/workers/jobs/#"
        let added = Self.describe(table.set(share, holder: .node("a"), present: true))
        #expect(added.hasPrefix("+workers jobs/# wg."))
        #expect(Self.describe(table.set(share, holder: .session("m1"), present: true)) == "none")
        #expect(Self.describe(table.set(share, holder: .node("b"), present: true)) == "none")
        #expect(table.nodes(of: share) == ["a", "b"], "sessions do not report the backlog; nodes do")

        // Every member moves: both nodes drop it before any joins again.
        #expect(Self.describe(table.set(share, holder: .node("a"), present: false)) == "none")
        #expect(Self.describe(table.set(share, holder: .node("b"), present: false)) == "none", "the record still holds it")
        #expect(table.nodes(of: share).isEmpty && table.count == 1)
        #expect(Self.describe(table.set(share, holder: .node("c"), present: true)) == "none")

        #expect(Self.describe(table.set(share, holder: .session("m1"), present: false)) == "none")
        #expect(Self.describe(table.set(share, holder: .session("m1"), present: false)) == "none", "twice changes nothing")
        #expect(Self.describe(table.set(share, holder: .node("c"), present: false)) == "-workers jobs/#")
        #expect(table.count == 0)
    }

    @Test func aSessionAloneKeepsTheGroupRouted() {
        var table = GroupRouteTable()
        #expect(Self.describe(table.set("$share/g/t", holder: .session("offline"), present: true)).hasPrefix("+g t "))
        #expect(table.nodes(of: "$share/g/t").isEmpty)
        #expect(Self.describe(table.set("$share/g/t", holder: .node("a"), present: false)) == "none", "a holder it never had")
        #expect(Self.describe(table.set("not a group", holder: .session("x"), present: true)) == "none")
        #expect(Self.describe(table.set("$share/g/t", holder: .session("offline"), present: false)) == "-g t")
    }
}
