import Testing
import WharfCore

/// What a compiled `ClientAccess` allows: per action, deny, patterns,
/// anonymous clients, `$` topics, shared subscriptions and subscribe coverage.
@Suite struct AccessControlMatchingTests {
    private func access(_ text: String, username: String? = nil, clientId: String = "client") throws -> ClientAccess {
        try AccessControlList(text: text, file: "test.acl").access(username: username, clientId: clientId)
    }

    /// read gives receive only, write publish only, readwrite both.
    @Test func accessPerAction() throws {
        let client = try access("topic read r/#\ntopic write w/#\ntopic readwrite rw/#\n")
        #expect(client.allows(.receive, topic: "r/1") && !client.allows(.publish, topic: "r/1"))
        #expect(!client.allows(.receive, topic: "w/1") && client.allows(.publish, topic: "w/1"))
        #expect(client.allows(.receive, topic: "rw/1") && client.allows(.publish, topic: "rw/1"))
        #expect(!client.allows(.receive, topic: "other") && !client.allows(.publish, topic: "other"))
    }

    /// Nothing is allowed that no rule grants.
    @Test func denyByDefault() throws {
        let client = try access("")
        for action in TopicAction.allCases {
            #expect(!client.allows(action, topic: "a"))
        }
        #expect(!client.allowsSubscription(filter: "#"))
    }

    /// A deny refuses both directions whatever grants the topic, wherever it
    /// stands in the file.
    @Test func denyWins() throws {
        let client = try access("topic readwrite house/#\ntopic deny house/safe/#\ntopic read house/safe/code\n")
        #expect(client.allows(.publish, topic: "house/lamp"))
        #expect(!client.allows(.publish, topic: "house/safe"))
        #expect(!client.allows(.receive, topic: "house/safe/code"))
        #expect(!client.allows(.publish, topic: "house/safe/door/1"))
    }

    /// A pattern's deny refuses what the user's own rules grant (stricter
    /// than Mosquitto, where the user's grant is found first).
    @Test func patternDenyBeatsUserGrant() throws {
        let client = try access("user u\ntopic readwrite devices/#\npattern deny devices/%c/config\n", username: "u", clientId: "d1")
        #expect(client.allows(.publish, topic: "devices/d1/state"))
        #expect(!client.allows(.publish, topic: "devices/d1/config"))
        #expect(client.allows(.publish, topic: "devices/d2/config"))
    }

    /// Patterns substitute the client id and the user name, one level each.
    @Test func patternSubstitution() throws {
        let text = "pattern readwrite devices/%c/#\npattern read users/%u/inbox\npattern write %u/%c\n"
        let client = try access(text, username: "alice", clientId: "phone")
        #expect(client.allows(.publish, topic: "devices/phone/battery"))
        #expect(client.allows(.receive, topic: "devices/phone"))
        #expect(!client.allows(.publish, topic: "devices/laptop/battery"))
        #expect(client.allows(.receive, topic: "users/alice/inbox"))
        #expect(!client.allows(.publish, topic: "users/alice/inbox"))
        #expect(!client.allows(.receive, topic: "users/bob/inbox"))
        #expect(client.allows(.publish, topic: "alice/phone"))
        #expect(!client.allows(.publish, topic: "phone/alice"))
    }

    /// Only a whole level is substituted (Mosquitto 2.1): `%count` is literal.
    @Test func partialLevelIsLiteral() throws {
        let client = try access("pattern readwrite sensors/%count\npattern readwrite x%c\n", clientId: "c")
        #expect(client.allows(.publish, topic: "sensors/%count"))
        #expect(!client.allows(.publish, topic: "sensors/count"))
        #expect(client.allows(.publish, topic: "x%c"))
        #expect(!client.allows(.publish, topic: "xc"))
    }

    /// A pattern with %u grants nothing to a client without a user name, nor
    /// one with an empty user name; %c patterns still apply to it.
    @Test func usernamePatternWithoutUsername() throws {
        let text = "pattern readwrite users/%u/#\npattern readwrite clients/%c/#\npattern readwrite u%u/%c\n"
        let anonymous = try access(text, username: nil, clientId: "c1")
        #expect(!anonymous.allows(.publish, topic: "users//x"))
        #expect(anonymous.allows(.publish, topic: "clients/c1/x"))
        #expect(!anonymous.allows(.publish, topic: "u%u/c1"), "a %u anywhere skips the pattern, as Mosquitto counts it")
        let empty = try access(text, username: "", clientId: "c1")
        #expect(!empty.allows(.publish, topic: "users//x"))
        #expect(empty.allows(.publish, topic: "clients/c1/x"))
        #expect(empty.allows(.publish, topic: "u%u/c1"))
    }

    /// A client id or user name holding `+` or `#` gets no pattern grants at
    /// all, so it cannot widen a pattern into a wildcard.
    @Test func wildcardInIdGetsNoPatternGrants() throws {
        let text = "user u\ntopic read own/#\npattern readwrite devices/%c/#\npattern read public/#\npattern deny own/secret\n"
        for (username, clientId) in [("u", "#"), ("u", "+"), ("u", "a+b"), ("#", "c"), ("u+", "c")] {
            let client = try access(text, username: username, clientId: clientId)
            #expect(!client.allows(.publish, topic: "devices/x/y"), "\(username) \(clientId)")
            #expect(!client.allows(.receive, topic: "devices/\(clientId)"), "\(username) \(clientId)")
            #expect(!client.allows(.receive, topic: "public/news"), "\(username) \(clientId)")
            #expect(!client.allowsSubscription(filter: "devices/#"), "\(username) \(clientId)")
            #expect(!client.allows(.receive, topic: "own/secret"), "a deny pattern still holds")
        }
        // The user's own rules still apply (Mosquitto checks them first).
        #expect(try access(text, username: "u", clientId: "#").allows(.receive, topic: "own/x"))
    }

    /// A client id with `/` would span two levels: the pattern matches nothing for it.
    @Test func slashInIdMatchesNothing() throws {
        let client = try access("pattern readwrite devices/%c/#\npattern read public/#\n", clientId: "a/b")
        #expect(!client.allows(.publish, topic: "devices/a/b"))
        #expect(!client.allows(.publish, topic: "devices/a/b/c"))
        #expect(!client.allows(.publish, topic: "devices/a"))
        #expect(client.allows(.receive, topic: "public/x"), "patterns without %c still apply")
    }

    /// A client id `$SYS` does not turn `%c/#` into `$SYS/#`.
    @Test func dollarIdAtFirstLevel() throws {
        let client = try access("pattern readwrite %c/#\npattern readwrite home/%c\n", clientId: "$SYS")
        #expect(!client.allows(.receive, topic: "$SYS/broker/uptime"))
        #expect(!client.allows(.receive, topic: "$SYS"))
        #expect(client.allows(.receive, topic: "home/$SYS"))
        let plain = try access("pattern readwrite %c/#\n", clientId: "box")
        #expect(plain.allows(.publish, topic: "box/1"))
    }

    /// Rules before the first `user` are for clients without a user name only.
    @Test func anonymousClients() throws {
        let text = "topic read public/#\nuser alice\ntopic readwrite alice/#\n"
        let anonymous = try access(text, username: nil)
        #expect(anonymous.allows(.receive, topic: "public/x"))
        #expect(!anonymous.allows(.receive, topic: "alice/x"))
        let alice = try access(text, username: "alice")
        #expect(alice.allows(.publish, topic: "alice/x"))
        #expect(!alice.allows(.receive, topic: "public/x"))
        let stranger = try access(text, username: "mallory")
        #expect(!stranger.allows(.receive, topic: "public/x") && !stranger.allows(.receive, topic: "alice/x"))
    }

    /// `#` and `+` at a rule's first level do not reach `$` topics.
    @Test func dollarTopicsNeedTheirOwnGrant() throws {
        let wide = try access("topic readwrite #\ntopic readwrite +/broker/#\n")
        #expect(wide.allows(.receive, topic: "anything/at/all"))
        #expect(!wide.allows(.receive, topic: "$SYS/broker/uptime"))
        #expect(!wide.allows(.receive, topic: "$DLQ/orders/1"))
        #expect(!wide.allowsSubscription(filter: "$SYS/#"))
        #expect(wide.allowsSubscription(filter: "#"), "`#` never delivers a $ topic, so `#` covers it")

        let explicit = try access("topic read $SYS/#\ntopic read $DLQ/+/1\n")
        #expect(explicit.allows(.receive, topic: "$SYS/broker/uptime"))
        #expect(explicit.allows(.receive, topic: "$DLQ/orders/1"))
        #expect(!explicit.allows(.publish, topic: "$SYS/broker/uptime"))
        #expect(explicit.allowsSubscription(filter: "$SYS/broker/+"))
        #expect(!explicit.allowsSubscription(filter: "#"))
    }

    /// A deny at the first level with a wildcard does not reach `$` topics either.
    @Test func wildcardDenyLeavesDollarTopics() throws {
        let client = try access("topic read $SYS/#\ntopic deny #\n")
        #expect(client.allows(.receive, topic: "$SYS/x"))
        #expect(!client.allows(.receive, topic: "x"))
    }

    /// Subscribe: the filter must be covered by one read rule.
    @Test func subscriptionCoverage() throws {
        let client = try access("topic read sensors/#\ntopic read rooms/+/temp\ntopic write out/#\n")
        for allowed in ["sensors/#", "sensors/+/temp", "sensors", "sensors/a/b/c", "sensors/+", "rooms/+/temp", "rooms/kitchen/temp"] {
            #expect(client.allowsSubscription(filter: allowed), "\(allowed)")
        }
        for refused in ["#", "+/temp", "sensors2/x", "rooms/#", "rooms/+/+", "rooms/kitchen/#", "rooms/+", "out/#", "out/x", "+"] {
            #expect(!client.allowsSubscription(filter: refused), "\(refused)")
        }
    }

    /// `+/#` covers `#` (both match every topic of a level or more), `a/+/#` does not cover `a/#` (which matches `a`).
    @Test func subscriptionCoverageEdges() throws {
        #expect(try access("topic read +/#").allowsSubscription(filter: "#"))
        #expect(try access("topic read #").allowsSubscription(filter: "+/#"))
        #expect(!(try access("topic read a/+/#").allowsSubscription(filter: "a/#")))
        #expect(try access("topic read a/+/#").allowsSubscription(filter: "a/+"))
        #expect(try access("topic read a/+").allowsSubscription(filter: "a/"))
        #expect(!(try access("topic read a/+").allowsSubscription(filter: "a/b/c")))
    }

    /// A deny covering the whole filter refuses it; one covering a part
    /// leaves the subscription, and deliveries of that part are refused.
    @Test func subscriptionAndDeny() throws {
        let client = try access("topic read sensors/#\ntopic deny sensors/secret/#\n")
        #expect(!client.allowsSubscription(filter: "sensors/secret/#"))
        #expect(!client.allowsSubscription(filter: "sensors/secret/x"))
        #expect(client.allowsSubscription(filter: "sensors/#"))
        #expect(client.allows(.receive, topic: "sensors/open"))
        #expect(!client.allows(.receive, topic: "sensors/secret/x"))
    }

    /// Deliveries need no check where the subscription is allowed and no
    /// deny rule meets any of its topics.
    @Test func allDeliveriesAllowed() throws {
        let client = try access("topic read sensors/#\ntopic deny sensors/+/secret\ntopic read $SYS/#\ntopic deny $SYS/private\n")
        #expect(!client.allowsAllDeliveries(filter: "sensors/#"), "sensors/x/secret is refused")
        #expect(!client.allowsAllDeliveries(filter: "sensors/+/+"))
        #expect(!client.allowsAllDeliveries(filter: "sensors/a/#"))
        #expect(client.allowsAllDeliveries(filter: "sensors/a/public"))
        #expect(client.allowsAllDeliveries(filter: "sensors/a"))
        #expect(client.allowsAllDeliveries(filter: "sensors/+/public/#"))
        #expect(client.allowsAllDeliveries(filter: "$share/g/sensors/a/public"))
        #expect(!client.allowsAllDeliveries(filter: "other/#"), "not allowed at all")
        #expect(!client.allowsAllDeliveries(filter: "$SYS/#"))
        #expect(client.allowsAllDeliveries(filter: "$SYS/broker/#"))
        // A `#` subscriber under `#`: the `$SYS` deny is no topic `#` matches.
        let wide = try access("topic read #\ntopic read $SYS/#\ntopic deny $SYS/private\n")
        #expect(wide.allowsAllDeliveries(filter: "#"))
        #expect(wide.allowsAllDeliveries(filter: "+/#"))
        #expect(!wide.allowsAllDeliveries(filter: "$SYS/+"))
        let denyAll = try access("topic read #\ntopic deny +/secret\n")
        #expect(!denyAll.allowsAllDeliveries(filter: "#"))
        #expect(denyAll.allowsAllDeliveries(filter: "a/public"))
        #expect(!denyAll.allowsAllDeliveries(filter: "a/+"))
        #expect(!(try access("topic read #\ntopic deny a/#\n").allowsAllDeliveries(filter: "a")), "a/# denies a itself")
    }

    /// `$share/GROUP/FILTER` is checked as FILTER.
    @Test func sharedSubscriptions() throws {
        let client = try access("topic read sensors/#\n")
        #expect(client.allowsSubscription(filter: "$share/g/sensors/+/temp"))
        #expect(client.allowsSubscription(filter: "$share/workers/sensors/#"))
        #expect(!client.allowsSubscription(filter: "$share/g/#"))
        #expect(!client.allowsSubscription(filter: "$share/g/other"))
        #expect(!client.allowsSubscription(filter: "$share/g"))
        #expect(!client.allowsSubscription(filter: "$share/g/"))
        #expect(!client.allowsSubscription(filter: "$share//sensors/#"))
        #expect(!(try access("topic read $share/g/#").allowsSubscription(filter: "$share/g/x")), "the group is no topic")
    }

    /// An invalid filter is never allowed.
    @Test func invalidFilterRefused() throws {
        let client = try access("topic read #\n")
        #expect(!client.allowsSubscription(filter: "a/#/b"))
        #expect(!client.allowsSubscription(filter: ""))
        #expect(!client.allowsSubscription(filter: "a+"))
    }

    /// `.subscribe` through `allows` is the subscription check.
    @Test func subscribeActionIsTheFilterCheck() throws {
        let client = try access("topic read a/#\n")
        #expect(client.allows(.subscribe, topic: "a/+"))
        #expect(!client.allows(.subscribe, topic: "#"))
    }

    /// Topic levels are matched exactly: empty levels, spaces, byte equality.
    @Test func exactLevels() throws {
        let client = try access("topic readwrite a/+\ntopic read living room/lamp\ntopic read caf\u{E9}/x\ntopic read //b\n")
        #expect(client.allows(.publish, topic: "a/"))
        #expect(!client.allows(.publish, topic: "a"))
        #expect(client.allows(.receive, topic: "living room/lamp"))
        #expect(client.allows(.receive, topic: "caf\u{E9}/x"))
        #expect(!client.allows(.receive, topic: "cafe\u{301}/x"))
        #expect(client.allows(.receive, topic: "//b"))
        #expect(!client.allows(.receive, topic: "/b"))
    }

    /// A thousand rules, many sharing prefixes: each one still answers for itself.
    @Test func thousandRules() throws {
        var text = ""
        for index in 0..<1_000 { text += "topic \(index % 2 == 0 ? "read" : "write") site/\(index % 10)/dev\(index)/#\n" }
        let client = try access(text)
        for index in stride(from: 0, to: 1_000, by: 37) {
            let topic = "site/\(index % 10)/dev\(index)/temp"
            #expect(client.allows(.receive, topic: topic) == (index % 2 == 0))
            #expect(client.allows(.publish, topic: topic) == (index % 2 == 1))
            #expect(!client.allows(.receive, topic: "site/\((index + 1) % 10)/dev\(index)/temp"))
        }
    }

    /// The raw values are the Prometheus label values.
    @Test func actionLabels() {
        #expect(TopicAction.allCases.map(\.rawValue) == ["publish", "subscribe", "receive"])
    }

    /// Clients of one user that no pattern adds to share one compiled answer.
    @Test func compiledOncePerUser() throws {
        let acl = try AccessControlList(text: "user u\ntopic a\n", file: "test.acl")
        #expect(acl.access(username: "u", clientId: "1") === acl.access(username: "u", clientId: "2"))
    }
}
