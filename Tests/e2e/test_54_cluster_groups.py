"""Cluster mode, consumer groups (docs/cluster.md, "Consumer groups"): a
`$share/<group>/<filter>` group is one replicated queue (a subject of the work
queue stream WHARF_G) that every node with members pulls from, so a message
published on any node goes to exactly one member on any node; a member that
leaves, or whose node dies, hands what it had not acknowledged to a member on
another node; a refused message comes back after a backoff and is
dead-lettered to `$DLQ/<topic>` after the policy's max_delivery_attempts
counted over every node; a message past its policy's TTL is delivered to none.

Real paho clients and raw socket clients (to hold or refuse acknowledgements)
on 127.0.0.1, Wharf nodes over a three-server NATS cluster. Every wait is
bounded."""
import socket
import time
import uuid

import pytest

import rawmqtt as r
from mqtt5clients import paho5
from mqttclients import paho
from natscluster import available, nats_cluster, nats_cluster_shared  # noqa: F401 (fixtures)
from wharfcluster import WharfCluster, http_get, wharf_cluster_factory  # noqa: F401 (fixture)

pytestmark = pytest.mark.skipif(not available(), reason="nats-server is not installed")

POLICY = ('[delivery]\nretry_backoff_min = 0.05\nretry_backoff_max = 0.2\n'
          '[[policy]]\npattern = "work/#"\nmax_delivery_attempts = 3\n'
          '[[policy]]\npattern = "brief/#"\nmessage_ttl = 1\n'
          '[[policy]]\npattern = "capped/#"\nmax_length = 3\noverflow = "reject-new"\n'
          '[[policy]]\npattern = "rolling/#"\nmax_length = 3\noverflow = "drop-oldest"\n')


@pytest.fixture(scope="module")
def nodes(nats_cluster_shared, tmp_path_factory):
    """Nodes A, B and C, ready and each listing all three live; stopped after the module."""
    c = WharfCluster(nats_cluster_shared, tmp_path_factory.mktemp("wharf-groups"), ("node-a", "node-b", "node-c"),
                     extra_config=POLICY)
    yield c
    c.close()


@pytest.fixture(autouse=True)
def groups_left_behind_go(request):
    """After each test on the shared nodes, its groups leave every node's routes
    (their members are gone), so the next test's counts start clean."""
    if "nodes" not in request.fixturenames:
        yield
        return
    c = request.getfixturevalue("nodes")
    before = group_counts(c)
    yield
    for n in c.nodes:
        c._poll(lambda n=n: c.group_routes(n) <= before[n.name] or None, 15,
                lambda last, n=n: f"{n.name} still routes {c.group_routes(n)} groups, had {before[n.name]}", n)


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def group_routed(c, before: dict, count: int = 1) -> None:
    """Waits until every node routes `count` more groups to their queues than in `before`."""
    for n in c.nodes:
        if n.running:
            c._poll(lambda n=n: c.group_routes(n) >= before[n.name] + count or None, 10,
                    lambda last, n=n: f"{n.name} routes {c.group_routes(n)} groups, want >= {before[n.name] + count}", n)


def group_counts(c) -> dict:
    return {n.name: c.group_routes(n) for n in c.nodes if n.running}


def offline_member(c, node, client_id: str, share: str) -> None:
    """A persistent member of `share` on `node`, once every node routes the
    group, then offline: the group stays, its messages wait for it."""
    before = group_counts(c)
    member = paho(node.port, client_id, clean=False)
    member.subscribe(share, qos=1)
    group_routed(c, before)
    member.disconnect()


def raw_member(node, client_id: str, share: str, version=r.MQTT_3_1_1):
    m = r.RawClient(node.port, version=version)
    assert m.connect(client_id)[1] == 0
    assert m.subscribe(1, (share, 1)) == [1]
    return m


def next_publish(m, timeout=3.0):
    """(packet id, payload) of the raw client's next PUBLISH, or None."""
    try:
        p = m.read_type(r.PUBLISH, timeout=timeout)
    except (socket.timeout, TimeoutError):
        return None
    _, pid, _, payload = p.publish_fields()
    return pid, payload


def test_each_message_goes_to_exactly_one_member_across_nodes(nodes):
    a, b, c = nodes.nodes
    topic = uid("orders")
    before = group_counts(nodes)
    m1 = paho(a.port, uid("m1"))
    m1.subscribe(f"$share/workers/{topic}/#", qos=1)
    group_routed(nodes, before)
    m2 = paho(b.port, uid("m2"))
    m2.subscribe(f"$share/workers/{topic}/#", qos=1)
    time.sleep(1.0)  # both nodes' pulls wait at the server
    pub = paho(c.port, uid("pub"))
    sent = [f"order-{i}".encode() for i in range(300)]
    for payload in sent:
        pub.publish(f"{topic}/eu", payload, qos=1)
    got1, got2 = [], []
    deadline = time.monotonic() + 30
    while len(got1) + len(got2) < len(sent) and time.monotonic() < deadline:
        for m, got in ((m1, got1), (m2, got2)):
            while not m.messages.empty():
                got.append(m.messages.get_nowait().payload)
        time.sleep(0.02)
    received = got1 + got2
    assert m1.nothing_for(1.0) and m2.nothing_for(0.2), "no message comes twice"
    assert sorted(received) == sorted(sent), (
        f"every message once over both members: {len(received)} received, {len(set(received))} distinct of {len(sent)}")
    assert got1 and got2, f"members on both nodes get work: A {len(got1)}, B {len(got2)}"
    for client in (m1, m2, pub):
        client.disconnect()


def test_a_member_that_leaves_hands_what_it_holds_to_a_member_on_another_node(nodes):
    a, b, c = nodes.nodes
    topic = uid("jobs")
    share = f"$share/crew/{topic}"
    before = group_counts(nodes)
    holder = raw_member(a, uid("holder"), share)
    group_routed(nodes, before)
    pub = paho(c.port, uid("pub"))
    for i in range(5):
        pub.publish(topic, f"job-{i}".encode(), qos=1)
    held = [next_publish(holder) for _ in range(5)]
    assert all(h is not None for h in held), f"the only member gets all five: {held}"
    other = paho(b.port, uid("other"))
    other.subscribe(share, qos=1)
    assert other.nothing_for(1.0), "the holder's messages are not given out twice while it holds them"
    holder.close()  # gone without acknowledging any
    got = sorted(m.payload for m in other.get_all(5, timeout=15))
    assert got == [f"job-{i}".encode() for i in range(5)]
    assert other.nothing_for(1.0)
    other.disconnect()
    pub.disconnect()


def test_refusals_on_two_nodes_count_toward_one_dead_letter(nodes):
    a, b, c = nodes.nodes
    topic = f"work/{uid('poison')}"
    share = f"$share/fixers/{topic}"
    dlq = paho5(c.port, uid("dlq"))
    dlq.subscribe(f"$DLQ/{topic}", 1)
    before = group_counts(nodes)
    refusers = [raw_member(n, uid(f"refuser-{n.name}"), share, version=r.MQTT_5) for n in (a, b)]
    group_routed(nodes, before)
    time.sleep(0.5)  # the $DLQ subscription's route reaches node A too
    pub = paho5(c.port, uid("pub"))
    pub.publish(topic, b"poison", qos=1)
    deliveries = []
    deadline = time.monotonic() + 20
    while len(deliveries) < 4 and time.monotonic() < deadline:
        for i, m in enumerate(refusers):
            got = next_publish(m, timeout=0.1)
            if got is not None:
                deliveries.append(i)
                m.send(r.ack(r.PUBACK, got[0], r.IMPLEMENTATION_SPECIFIC))
    assert len(deliveries) == 3, f"delivered max_delivery_attempts times in all, over both nodes: {deliveries}"
    dead = dlq.get(timeout=10)
    assert (dead.topic, dead.payload) == (f"$DLQ/{topic}", b"poison")
    user = dict(dead.properties.UserProperty)
    assert user["wharf-dead-letter-reason"] == "max_delivery_attempts"
    assert user["wharf-delivery-attempts"] == "3"
    assert user["wharf-original-topic"] == topic
    assert all(next_publish(m, timeout=0.5) is None for m in refusers), "a dead letter is not delivered again"
    for m in refusers:
        m.close()
    dlq.disconnect()
    pub.disconnect()


def test_a_message_past_its_ttl_reaches_no_member(nodes):
    a, b, c = nodes.nodes
    topic = f"brief/{uid('quote')}"
    share = f"$share/desk/{topic}"
    member_id = uid("desk")
    offline_member(nodes, a, member_id, share)
    pub = paho(c.port, uid("pub"))
    pub.publish(topic, b"stale", qos=1)
    time.sleep(1.5)  # past the policy's 1 s TTL
    back = paho(b.port, member_id, clean=False)  # back on another node
    time.sleep(1.0)  # node B's announcement of the group reaches C as A's is withdrawn
    pub.publish(topic, b"fresh", qos=1)
    got = back.get(timeout=10)
    assert got.payload == b"fresh"
    assert back.nothing_for(1.0), "the expired message never comes"
    back.disconnect()
    paho(b.port, member_id, clean=True).disconnect()  # the session, and with it the group, ends
    pub.disconnect()


@pytest.mark.parametrize("overflow", ["reject-new", "drop-oldest"])
def test_a_policys_max_length_holds_for_a_group_across_nodes(nodes, overflow):
    """max_length 3 counts what waits for the group's members, wherever they
    are: with its only member offline on A, five publishes through node C.
    reject-new: the fourth and fifth get 0x97 (quota exceeded) and the member
    gets the first three; drop-oldest: all five are accepted and the member
    gets the newest three. Either way C counts two max_length drops."""
    a, b, c = nodes.nodes
    topic = f"{'capped' if overflow == 'reject-new' else 'rolling'}/{uid('q')}"
    share = f"$share/{uid('g')}/{topic}"
    member_id = uid("member")
    offline_member(nodes, a, member_id, share)
    pub = paho5(c.port, uid("pub"))
    dropped_before = dropped(c, "max_length")
    codes = [pub.publish(topic, f"m{i}".encode(), qos=1) for i in range(5)]
    if overflow == "reject-new":
        assert codes == [0, 0, 0, 0x97, 0x97], f"PUBACK reason codes {codes}"
        want = [b"m0", b"m1", b"m2"]
    else:
        assert codes == [0] * 5, f"PUBACK reason codes {codes}"
        want = [b"m2", b"m3", b"m4"]
    nodes._poll(lambda: dropped(c, "max_length") - dropped_before == 2 or None, 5,
                lambda last: f"C counted {dropped(c, 'max_length') - dropped_before} max_length drops, want 2", c)
    time.sleep(0.5)  # drop-oldest's deletes land before the member pulls
    back = paho(b.port, member_id, clean=False)
    got = [m.payload for m in back.get_all(3, timeout=15)]
    assert got == want
    assert back.nothing_for(1.0)
    back.disconnect()
    paho(b.port, member_id, clean=True).disconnect()
    pub.disconnect()


def group_depths(c, name: str) -> dict:
    """The depth each running node reports for group `name`."""
    return {n.name: sum(g["depth"] for g in WharfCluster.snapshot(n)["groups"] if g["name"] == name)
            for n in c.nodes if n.running}


def test_an_offline_groups_backlog_is_reported_once_over_all_nodes(nodes):
    a, b, c = nodes.nodes
    topic = uid("backlog")
    name = uid("g")
    share = f"$share/{name}/{topic}"
    member_id = uid("late")
    offline_member(nodes, a, member_id, share)
    pub = paho(c.port, uid("pub"))
    for i in range(7):
        pub.publish(topic, f"m{i}".encode(), qos=1)
    depths = nodes._poll(lambda: (lambda d: d if sum(d.values()) == 7 else None)(group_depths(nodes, name)), 10,
                         lambda last: f"summed depth {group_depths(nodes, name)}, want 7", a)
    assert sorted(depths.values()) == [0, 0, 7], f"one node reports the backlog: {depths}"
    time.sleep(2.5)  # two more rounds of reporting: still exactly the backlog
    assert sum(group_depths(nodes, name).values()) == 7
    back = paho(b.port, member_id, clean=False)
    got = sorted(m.payload for m in back.get_all(7, timeout=15))
    assert got == [f"m{i}".encode() for i in range(7)]
    nodes._poll(lambda: sum(group_depths(nodes, name).values()) == 0 or None, 10,
                lambda last: f"depth after delivery {group_depths(nodes, name)}", b)
    back.disconnect()
    paho(b.port, member_id, clean=True).disconnect()
    pub.disconnect()


def test_a_dead_nodes_unacknowledged_group_messages_go_to_a_member_elsewhere(wharf_cluster_factory):
    cluster = wharf_cluster_factory(("a", "b"), extra_config="group_ack_wait = 3\n")
    a, b = cluster.nodes
    topic = uid("tasks")
    share = f"$share/pool/{topic}"
    before = group_counts(cluster)
    holder = raw_member(a, uid("holder"), share)
    group_routed(cluster, before)
    pub = paho(b.port, uid("pub"))
    for i in range(4):
        pub.publish(topic, f"task-{i}".encode(), qos=1)
    assert all(next_publish(holder) is not None for _ in range(4)), "node A's member holds all four"
    cluster.kill(a)
    holder.close()
    other = paho(b.port, uid("other"))
    other.subscribe(share, qos=1)
    got = sorted(m.payload for m in other.get_all(4, timeout=20))
    assert got == [f"task-{i}".encode() for i in range(4)], "after the group's ack wait, B's member gets them"
    assert other.nothing_for(1.0)
    other.disconnect()
    pub.disconnect()
    cluster.restart(a)


def test_a_qos2_group_delivery_past_pubrec_stays_the_members_when_its_node_dies(wharf_cluster_factory):
    """A persistent member on A takes a QoS 2 message from the group to PUBREC
    and gets PUBREL, and A is killed before the member's PUBCOMP. Back on B the
    member gets PUBREL under the same packet id, not the message again, and
    past the group's ack wait no member gets it as a new message (neither it
    nor one on B): exactly once, as on one node."""
    cluster = wharf_cluster_factory(("a", "b"), extra_config="group_ack_wait = 3\n")
    a, b = cluster.nodes
    topic = uid("ledger")
    name = uid("g")
    share = f"$share/{name}/{topic}"
    member_id = uid("member")
    before = group_counts(cluster)
    first = r.RawClient(a.port)
    assert first.connect(member_id, clean=False)[1] == 0
    assert first.subscribe(1, (share, 2)) == [2]
    group_routed(cluster, before)
    pub = paho(b.port, uid("pub"))
    pub.publish(topic, b"entry", qos=2)
    _, pid, _, body = first.read_type(r.PUBLISH, timeout=10).publish_fields()
    assert body == b"entry"
    first.send(r.ack(r.PUBREC, pid))
    assert first.read_type(r.PUBREL).ack_fields()[0] == pid
    cluster.kill(a)
    first.sock.close()  # no PUBCOMP

    other = paho(b.port, uid("other"))
    other.subscribe(share, qos=2)
    second = r.RawClient(b.port)
    second.send(r.connect(member_id, clean=False))
    assert second.read(timeout=20).connack()[:2] == (True, 0), "B takes the session once A's lease lapsed"
    resumed = second.read(timeout=20)
    assert (resumed.type, resumed.ack_fields()[0]) == (r.PUBREL, pid), f"resumed with {resumed}"
    second.send(r.ack(r.PUBCOMP, pid))
    assert other.nothing_for(6.0), "past the group's ack wait the entry went to another member"
    with pytest.raises(socket.timeout):
        got = second.read(timeout=0.5)
        raise AssertionError(f"after PUBCOMP: {got}")
    second.send(r.disconnect())
    pub.publish(topic, b"next", qos=2)
    assert [m.payload for m in other.get_all(1, timeout=10)] == [b"next"], "the group goes on"
    other.disconnect()
    pub.disconnect()
    paho(b.port, member_id, clean=True).disconnect()
    cluster.restart(a)


def test_a_dead_nodes_offline_member_keeps_its_group_routed_and_reported(wharf_cluster_factory):
    """The group's only member is an offline persistent session on A, and A
    is killed. Its record still subscribes to the group, so B goes on routing
    the group's messages to its queue once A is no longer live (not dropped
    as having no subscriber); B adopts the session and with it the offline
    membership, so B reports the group's backlog; the member finds every
    message when it comes back on B."""
    cluster = wharf_cluster_factory(("a", "b"))
    a, b = cluster.nodes
    topic = uid("fleet")
    name = uid("g")
    share = f"$share/{name}/{topic}"
    member_id = uid("sleeper")
    before = group_counts(cluster)
    offline_member(cluster, a, member_id, share)
    cluster.kill(a)
    cluster.wait_live_nodes(b, ["b"])
    pub = paho(b.port, uid("pub"))
    for i in range(5):
        pub.publish(topic, f"reading-{i}".encode(), qos=1)
    assert cluster.group_routes(b) == before["b"] + 1, "the record keeps the group routed with no node holding it"
    cluster._poll(lambda: group_depths(cluster, name).get("b") == 5 or None, 20,
                  lambda last: f"B reports {group_depths(cluster, name)}, want 5 once it adopts the member", b)
    back = paho(b.port, member_id, clean=False)
    got = [m.payload for m in back.get_all(5, timeout=15)]
    assert got == [f"reading-{i}".encode() for i in range(5)], "every message, in order"
    assert back.nothing_for(1.0)
    back.disconnect()
    paho(b.port, member_id, clean=True).disconnect()
    pub.disconnect()
    cluster.restart(a)


def dropped(node, reason: str) -> float:
    """`node`'s wharf_messages_dropped_total for `reason`."""
    status, body = http_get(node.metrics_url + "/metrics")
    assert status == 200, body[:300]
    line = f'wharf_messages_dropped_total{{reason="{reason}"}} '
    return sum(float(l[len(line):]) for l in body.splitlines() if l.startswith(line))


def test_a_full_groups_publishers_wait_while_members_work_through_it(wharf_cluster_factory):
    """The group's queue holds 15 (max_queued_messages 10 + max_inflight_messages
    5). A QoS 1 publisher on B puts 200 at once in flight (a window of 100) to
    a slow member on A that acknowledges one every 10 ms: the publisher waits,
    as it would on one node, and every message arrives once with nothing
    counted queue_full. Once the member is offline nobody works through the
    queue: what it cannot hold is dropped and counted, and the publisher is
    acknowledged without waiting out the forward deadline. (The bound is the
    publishing node's, from the consumer's answers: it may keep a few less
    than 15, never more from one node.)"""
    cluster = wharf_cluster_factory(("a", "b"), extra_config="[limits]\nmax_queued_messages = 10\nmax_inflight_messages = 5\n")
    a, b = cluster.nodes
    topic = uid("ticks")
    share = f"$share/slow/{topic}"
    member_id = uid("slow")
    before = group_counts(cluster)
    member = r.RawClient(a.port)
    assert member.connect(member_id, clean=False)[1] == 0
    assert member.subscribe(1, (share, 1)) == [1]
    group_routed(cluster, before)
    time.sleep(1.0)  # A's pull waits at the server
    pub = paho(b.port, uid("pub"))
    infos = [pub.publish(topic, f"t{i}".encode(), qos=1, wait=False) for i in range(200)]
    got = []
    deadline = time.monotonic() + 60
    while len(got) < 200 and time.monotonic() < deadline:
        p = next_publish(member, timeout=1.0)
        if p is None:
            continue
        got.append(p[1])
        time.sleep(0.01)
        member.send(r.ack(r.PUBACK, p[0]))
    missing = sorted(set(f"t{i}".encode() for i in range(200)) - set(got))
    assert sorted(got) == sorted(f"t{i}".encode() for i in range(200)), (
        f"every message once: {len(got)} received, {len(set(got))} distinct; missing {missing}; "
        f"queue_full on B {dropped(b, 'queue_full')}; publisher acknowledged {sum(i.is_published() for i in infos)}")
    assert all(info.is_published() for info in infos)
    assert dropped(b, "queue_full") == 0, "the publisher waited; nothing was dropped"

    member.send(r.DISCONNECT_BYTES)  # offline, persistent: the group stays, nobody works
    member.close()
    time.sleep(3.0)  # A's last pull (2 s) expires
    started = time.monotonic()
    infos = [pub.publish(topic, f"late{i}".encode(), qos=1, wait=False) for i in range(30)]
    for info in infos:
        info.wait_for_publish(timeout=15)
    assert all(info.is_published() for info in infos)
    assert time.monotonic() - started < 8, "nobody works through the queue: the publisher is not held"
    lost = dropped(b, "queue_full")
    back = paho(b.port, member_id, clean=False)
    kept = 30 - int(lost)
    assert 10 <= kept <= 15, f"the group held at most its 15 and dropped the rest, counted: {lost} dropped"
    assert len(back.get_all(kept, timeout=15)) == kept
    assert back.nothing_for(1.0), "what was dropped and counted never comes"
    back.disconnect()
    paho(b.port, member_id, clean=True).disconnect()
    pub.disconnect()
