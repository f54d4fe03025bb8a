"""Cluster mode, routing across nodes (docs/cluster.md, "How a message crosses
nodes"): two Wharf nodes, A and B, over one three-server NATS JetStream cluster,
driven by real MQTT clients (paho 3.1.1 and 5.0, mosquitto_pub/mosquitto_sub).
Nothing is killed here, so the nodes and the NATS cluster are shared by the module.

A subscription on B is routable from A once A has read B's route: every test
waits for A's snapshot `cluster.remoteRoutes` to grow before publishing, never
for a fixed time. Between tests every client is gone and both nodes are back
to no remote routes (which also checks that routes are withdrawn)."""
import time

import pytest
from paho.mqtt.packettypes import PacketTypes

from mqtt5clients import paho5, props
from mqttclients import mosquitto_pub, mosquitto_sub, paho
from natscluster import available, nats_cluster_shared  # noqa: F401 (fixture)
from wharfcluster import WharfCluster, fresh_retained, wait_until

pytestmark = pytest.mark.skipif(not available(), reason="nats-server is not installed")


def remote_routes(node) -> int:
    return int(WharfCluster.snapshot(node)["cluster"]["remoteRoutes"])


def wait_routes(node, at_least, timeout=10.0):
    return wait_until(f"{node.name}: remoteRoutes >= {at_least}",
                      lambda: (lambda n: [n] if n >= at_least else f"remoteRoutes {n}")(remote_routes(node)),
                      timeout, node)


def wait_routes_at_most(node, at_most, timeout=10.0):
    return wait_until(f"{node.name}: remoteRoutes <= {at_most}",
                      lambda: (lambda n: [n] if n <= at_most else f"remoteRoutes {n}")(remote_routes(node)),
                      timeout, node)


USER = [("trace", "1"), ("zeta", "last?"), ("alpha", "no, first"), ("trace", "2")]


@pytest.fixture(scope="module")
def nodes(nats_cluster_shared, tmp_path_factory):
    """Nodes A and B, ready and each listing both live; stopped after the module (exit 0 checked)."""
    c = WharfCluster(nats_cluster_shared, tmp_path_factory.mktemp("wharf-nodes"), ("node-a", "node-b"))
    yield c.nodes
    c.close()


@pytest.fixture
def ab(nodes):
    """(A, B), each with no remote routes left over from the test before."""
    a, b = nodes
    for node in (a, b):
        assert node.running, f"{node.name} is not running\n{node.log_tail()}"
        wait_routes_at_most(node, 0, timeout=10)
    return a, b


@pytest.fixture
def clients():
    """Clients a test opens; disconnected after it whatever happened."""
    opened = []
    yield opened
    for c in opened:
        try:
            c.disconnect()
        except Exception:
            pass


def routed(a, before: int, more: int = 1):
    """Waits until A follows `more` new routes of B (B's SUBACKs are in already)."""
    wait_routes(a, before + more, timeout=10)


def wait_retained(node, topic, expected, timeout=5.0):
    """The route to a node's retained store is eventually consistent (the bucket is
    applied in its order on every node): poll new subscribers until `expected`."""
    def check():
        got = fresh_retained(node, topic, wait=0.5)
        return True if got == expected else f"{got!r}"
    wait_until(f"{node.name}: retained {topic} == {expected!r}", check, timeout, node)


# --- QoS 0/1/2 across nodes -------------------------------------------------

@pytest.mark.parametrize("qos", [0, 1, 2])
def test_paho_311_cross_node_each_qos(ab, clients, uid, qos):
    a, b = ab
    base = remote_routes(a)
    sub = paho(b.port, f"{uid}-s")
    clients.append(sub)
    assert sub.subscribe(f"{uid}/t", 2)[0].value == 2
    routed(a, base)
    pub = paho(a.port, f"{uid}-p")
    clients.append(pub)
    pub.publish(f"{uid}/t", f"m-{qos}".encode(), qos=qos)
    m = sub.get(timeout=5)
    assert (m.topic, m.payload, m.qos) == (f"{uid}/t", f"m-{qos}".encode(), qos)
    assert sub.nothing_for(0.5)


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_paho_5_cross_node_each_qos(ab, clients, uid, qos):
    a, b = ab
    base = remote_routes(a)
    sub = paho5(b.port, f"{uid}-s")
    clients.append(sub)
    assert sub.subscribe(f"{uid}/t", 2) == [2]
    routed(a, base)
    pub = paho5(a.port, f"{uid}-p")
    clients.append(pub)
    rc = pub.publish(f"{uid}/t", f"m-{qos}".encode(), qos=qos)
    if qos:
        assert rc == 0, f"PUBACK/PUBREC reason {rc:#x}"
    m = sub.get(timeout=5)
    assert (m.topic, m.payload, m.qos) == (f"{uid}/t", f"m-{qos}".encode(), qos)
    assert sub.nothing_for(0.5)


def test_mosquitto_pub_sub_cross_node(ab, uid):
    a, b = ab
    base = remote_routes(a)
    sub = mosquitto_sub(b.port, f"{uid}/m/#", 3, qos=2, timeout=20)
    try:
        routed(a, base)  # mosquitto_sub has subscribed once A follows its route
        for qos in (0, 1, 2):
            done = mosquitto_pub(a.port, f"{uid}/m/q{qos}", f"via-{qos}", qos=qos)
            assert done.returncode == 0, done.stderr
        out, err = sub.communicate(timeout=25)
    finally:
        if sub.poll() is None:
            sub.kill()
            sub.wait()
    assert sub.returncode == 0, f"mosquitto_sub: {err}"
    assert sorted(out.splitlines()) == [f"{uid}/m/q0 via-0", f"{uid}/m/q1 via-1", f"{uid}/m/q2 via-2"]


def test_mosquitto_v5_cross_node_both_directions(ab, uid):
    a, b = ab
    base_a, base_b = remote_routes(a), remote_routes(b)
    on_b = mosquitto_sub(b.port, f"{uid}/ab", 1, qos=1, extra=["-V", "mqttv5"], timeout=20)
    on_a = mosquitto_sub(a.port, f"{uid}/ba", 1, qos=1, extra=["-V", "mqttv5"], timeout=20)
    try:
        routed(a, base_a)
        routed(b, base_b)
        assert mosquitto_pub(a.port, f"{uid}/ab", "a-to-b", qos=1, extra=["-V", "mqttv5"]).returncode == 0
        assert mosquitto_pub(b.port, f"{uid}/ba", "b-to-a", qos=1, extra=["-V", "mqttv5"]).returncode == 0
        out_b, _ = on_b.communicate(timeout=25)
        out_a, _ = on_a.communicate(timeout=25)
    finally:
        for p in (on_a, on_b):
            if p.poll() is None:
                p.kill()
                p.wait()
    assert out_b.strip() == f"{uid}/ab a-to-b"
    assert out_a.strip() == f"{uid}/ba b-to-a"


def test_qos2_exactly_once_across_nodes(ab, clients, uid):
    a, b = ab
    base = remote_routes(a)
    sub = paho5(b.port, f"{uid}-s")
    clients.append(sub)
    sub.subscribe(f"{uid}/x2", 2)
    routed(a, base)
    pub = paho5(a.port, f"{uid}-p", max_inflight=10)
    clients.append(pub)
    n = 100
    infos = [pub.publish(f"{uid}/x2", f"{i}".encode(), qos=2, wait=False) for i in range(n)]
    for info in infos:
        assert pub.ack_for(info.mid)[0] == 0
    got = sub.get_all(n, timeout=15)
    payloads = [m.payload.decode() for m in got]
    assert sorted(payloads, key=int) == [str(i) for i in range(n)], f"{len(payloads)} of {n}"
    assert payloads == [str(i) for i in range(n)], "in publish order"
    assert all(m.qos == 2 for m in got)
    assert sub.nothing_for(1.0), "no second copy"


def test_overlapping_filters_on_b_one_copy_at_highest_qos(ab, clients, uid):
    a, b = ab
    base = remote_routes(a)
    sub = paho5(b.port, f"{uid}-s")
    clients.append(sub)
    assert sub.subscribe(f"{uid}/#", 1) == [1]
    assert sub.subscribe(f"{uid}/+", 2) == [2]
    routed(a, base, 2)
    pub = paho5(a.port, f"{uid}-p")
    clients.append(pub)
    assert pub.publish(f"{uid}/o", b"once", qos=2) == 0
    m = sub.get(timeout=5)
    assert (m.topic, m.payload, m.qos) == (f"{uid}/o", b"once", 2)
    assert sub.nothing_for(1.0), "overlapping subscriptions: one copy"


def test_subscribers_on_both_nodes_each_get_one(ab, clients, uid):
    a, b = ab
    base_a, base_b = remote_routes(a), remote_routes(b)
    on_a = paho(a.port, f"{uid}-sa")
    on_b = paho(b.port, f"{uid}-sb")
    clients += [on_a, on_b]
    on_a.subscribe(f"{uid}/both", 1)
    on_b.subscribe(f"{uid}/both", 1)
    routed(a, base_a)
    routed(b, base_b)
    for node, text in ((a, b"from-a"), (b, b"from-b")):
        pub = paho(node.port, f"{uid}-p-{node.name}")
        clients.append(pub)
        pub.publish(f"{uid}/both", text, qos=1)
        for s in (on_a, on_b):
            m = s.get(timeout=5)
            assert (m.topic, m.payload) == (f"{uid}/both", text)
    assert on_a.nothing_for(0.5) and on_b.nothing_for(0.2)


def test_hash_on_b_does_not_match_dollar_topic_from_a(ab, clients, uid):
    a, b = ab
    base = remote_routes(a)
    everything = paho(b.port, f"{uid}-all")
    dollar = paho(b.port, f"{uid}-dollar")
    clients += [everything, dollar]
    everything.subscribe("#", 1)
    dollar.subscribe(f"$x{uid}/#", 1)
    routed(a, base, 2)
    pub = paho(a.port, f"{uid}-p")
    clients.append(pub)
    pub.publish(f"$x{uid}/y", b"dollar", qos=1)
    pub.publish(f"{uid}/marker", b"plain", qos=1)
    m = dollar.get(timeout=5)
    assert (m.topic, m.payload) == (f"$x{uid}/y", b"dollar")
    # `#` gets the plain marker, sent after the $ topic through the same stream, and nothing before it.
    m = everything.get(timeout=5)
    assert (m.topic, m.payload) == (f"{uid}/marker", b"plain"), f"# got {m.topic}"
    assert everything.nothing_for(0.5)
    assert dollar.nothing_for(0.1)


def test_mqtt5_properties_cross_nodes(ab, clients, uid):
    a, b = ab
    base = remote_routes(a)
    sub = paho5(b.port, f"{uid}-s")
    clients.append(sub)
    sub.subscribe(f"{uid}/req", 2)
    routed(a, base)
    pub = paho5(a.port, f"{uid}-p")
    clients.append(pub)
    for qos in (0, 1, 2):
        sent = props(PacketTypes.PUBLISH, UserProperty=USER, PayloadFormatIndicator=1,
                     ContentType="text/plain; v=2", ResponseTopic=f"{uid}/reply", CorrelationData=b"\x00\xffid-42")
        pub.publish(f"{uid}/req", "héllo".encode(), qos=qos, properties=sent)
        m = sub.get(timeout=5)
        assert (m.payload, m.qos) == ("héllo".encode(), qos)
        p = m.properties
        assert p.UserProperty == USER, f"QoS {qos}: user properties in order, repeated keys kept"
        assert p.PayloadFormatIndicator == 1
        assert p.ContentType == "text/plain; v=2"
        assert p.ResponseTopic == f"{uid}/reply"
        assert p.CorrelationData == b"\x00\xffid-42"


# --- retained messages across nodes -----------------------------------------

def test_retained_set_replaced_cleared_across_nodes(ab, clients, uid):
    a, b = ab
    topic = f"{uid}/r"
    pub = paho(a.port, f"{uid}-p")
    clients.append(pub)
    pub.publish(topic, b"one", qos=1, retain=True)
    wait_retained(b, topic, (b"one", True))
    pub.publish(topic, b"two", qos=1, retain=True)
    wait_retained(b, topic, (b"two", True))
    pub.publish(topic, b"", qos=1, retain=True)
    wait_retained(b, topic, None)
    assert fresh_retained(b, topic, wait=1.0) is None, "a cleared retained message stays cleared"
    assert fresh_retained(a, topic, wait=0.3) is None


def test_retained_set_on_a_seen_by_mosquitto_sub_on_b(ab, uid):
    a, b = ab
    topic = f"{uid}/rm"
    assert mosquitto_pub(a.port, topic, "kept", qos=1, extra=["-r"]).returncode == 0
    def check():
        p = mosquitto_sub(b.port, topic, 1, qos=1, timeout=1)
        out, _ = p.communicate(timeout=10)
        return True if out.strip() == f"{topic} kept" else repr(out)
    wait_until(f"{b.name}: retained {topic}", check, 8, b)
    assert mosquitto_pub(a.port, topic, "", qos=1, extra=["-r"]).returncode == 0
    wait_retained(b, topic, None)


def test_retained_message_expiry_across_nodes(ab, clients, uid):
    a, b = ab
    topic = f"{uid}/exp"
    pub = paho5(a.port, f"{uid}-p")
    clients.append(pub)
    sent = time.monotonic()
    assert pub.publish(topic, b"short-lived", qos=1, retain=True,
                       properties=props(PacketTypes.PUBLISH, MessageExpiryInterval=2)) in (0, 0x10)  # 0x10: no subscribers
    # Alive on B first (the bucket reaches B in milliseconds), so the absence below means expired.
    wait_retained(b, topic, (b"short-lived", True), timeout=1.5)
    time.sleep(max(0.0, 3.0 - (time.monotonic() - sent)))
    late = paho5(b.port, f"{uid}-late")
    clients.append(late)
    late.subscribe(topic, 1)
    assert late.nothing_for(1.0), "expired retained message delivered"


# --- unsubscribe ------------------------------------------------------------

def test_unsubscribe_on_b_stops_delivery_from_a(ab, clients, uid):
    a, b = ab
    base = remote_routes(a)
    sub = paho5(b.port, f"{uid}-s")
    clients.append(sub)
    sub.subscribe(f"{uid}/u", 1)
    routed(a, base)
    pub = paho5(a.port, f"{uid}-p")
    clients.append(pub)
    assert pub.publish(f"{uid}/u", b"before", qos=1) == 0
    assert sub.get(timeout=5).payload == b"before"
    assert sub.unsubscribe(f"{uid}/u") == [0]
    wait_routes_at_most(a, base)
    assert pub.publish(f"{uid}/u", b"after", qos=1) in (0, 0x10)  # 0x10: no matching subscribers
    assert sub.nothing_for(1.0)


# --- message expiry and $SYS across nodes (added by the second writer in this worktree) ---

def test_message_expiry_counts_down_across_nodes(ab, clients, uid):
    """5.0 Message Expiry Interval crosses nodes as what is left of it: at most the original
    live, and less after the message waited in an offline session on B."""
    a, b = ab
    topic = f"{uid}/e"
    base = remote_routes(a)
    live = paho5(b.port, f"{uid}-live")
    clients.append(live)
    assert live.subscribe(topic, 1) == [1]
    waiting = paho5(b.port, f"{uid}-off", clean_start=False, session_expiry=60)
    assert waiting.subscribe(topic, 1) == [1]
    routed(a, base)
    offline_before = WharfCluster.snapshot(b)["sessions"]["offline"]
    waiting.disconnect()
    wait_until(f"{b.name}: {uid}-off offline",
               lambda: WharfCluster.snapshot(b)["sessions"]["offline"] > offline_before or "still online", 5, b)
    pub = paho5(a.port, f"{uid}-p")
    clients.append(pub)
    assert pub.publish(topic, b"ttl", qos=1, properties=props(PacketTypes.PUBLISH, MessageExpiryInterval=60)) == 0
    m = live.get(timeout=5)
    assert m.payload == b"ttl"
    assert 58 <= m.properties.MessageExpiryInterval <= 60, m.properties.MessageExpiryInterval
    # The quantity under test is the time the message waits in B's offline session, not a synchronisation.
    time.sleep(2.2)
    back = paho5(b.port, f"{uid}-off", clean_start=False, session_expiry=60)
    try:
        assert back.session_present
        m = back.get(timeout=5)
        assert m.payload == b"ttl"
        assert 50 <= m.properties.MessageExpiryInterval <= 58, \
            f"expiry after waiting 2.2 s on B: {m.properties.MessageExpiryInterval}"
    finally:
        back.disconnect()
        # End the session, so its subscription leaves the route index before the next test.
        paho5(b.port, f"{uid}-off", clean_start=True, session_expiry=0).disconnect()


def test_sys_topics_of_a_are_not_matched_by_hash_on_b(nats_cluster, tmp_path, uid):
    """`#` on B gets A's ordinary messages but never a `$SYS/...` topic, though both nodes
    publish $SYS every second and B also has a `$SYS/#` subscriber. Own nodes (--sys-interval 1)
    on this test's own NATS cluster, so the shared nodes' routes stay untouched."""
    c = WharfCluster(nats_cluster, tmp_path, ("sys-a", "sys-b"), extra_args=("--sys-interval", "1"))
    opened = []
    try:
        a, b = c.nodes
        base = c.remote_routes(a)
        sys_a = paho(a.port, f"{uid}-sys-a")
        everything = paho(b.port, f"{uid}-all")
        sys_b = paho(b.port, f"{uid}-sys-b")
        opened += [sys_a, everything, sys_b]
        sys_a.subscribe("$SYS/#", 0)
        everything.subscribe("#", 0)
        sys_b.subscribe("$SYS/#", 0)
        c.wait_route(a, base + 2)
        m = sys_a.get(timeout=5)
        assert m.topic.startswith("$SYS/"), f"A publishes $SYS (seen locally): {m.topic}"
        assert sys_b.get(timeout=5).topic.startswith("$SYS/")
        pub = paho(a.port, f"{uid}-p")
        opened.append(pub)
        pub.publish(f"{uid}/plain", b"plain", qos=1)
        got = everything.get_all(10_000, timeout=2.5)  # two $SYS rounds of both nodes
        topics = [m.topic for m in got]
        assert f"{uid}/plain" in topics, f"`#` on B works across nodes: {topics}"
        assert not [t for t in topics if t.startswith("$")], f"`#` on B matched $ topics: {topics}"
    finally:
        for client in opened:
            try:
                client.disconnect()
            except Exception:
                pass
        c.close()
