"""Cluster mode, persistent sessions' queues (docs/cluster.md, "Session queues"):
a session's queue is a subject of the replicated stream WHARF_Q, appended to on
the node a message is published on, so a client that comes back on any node,
or after its node died, gets what was queued for it, in order; what it
acknowledged does not come back.

Real paho clients (3.1.1 and 5.0) and a raw socket client on 127.0.0.1, Wharf
nodes over a three-server NATS cluster. Every wait is bounded."""
import socket
import time
import uuid

import pytest

import rawmqtt
from mqtt5clients import paho5
from mqttclients import paho
from natscluster import available, nats_cluster, nats_cluster_shared  # noqa: F401 (fixtures)
from wharfcluster import WharfCluster

pytestmark = pytest.mark.skipif(not available(), reason="nats-server is not installed")


@pytest.fixture(scope="module")
def nodes(nats_cluster_shared, tmp_path_factory):
    """Nodes A and B, ready and each listing both live; stopped after the module (exit 0 checked)."""
    c = WharfCluster(nats_cluster_shared, tmp_path_factory.mktemp("wharf-queues"), ("node-a", "node-b"))
    yield c
    c.close()


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def payloads(messages) -> list[bytes]:
    return [m.payload for m in messages]


def routed_everywhere(c, subscribe):
    """Runs `subscribe` (one new filter of a persistent session), waits until
    every node routes it to the session's queue, and returns the SUBACK codes."""
    before = {n.name: c.session_routes(n) for n in c.nodes}
    codes = subscribe()
    for n in c.nodes:
        c.wait_session_routes(n, before[n.name] + 1)
    return codes


def connected_ids(node) -> set[str]:
    return {c["clientId"] for c in WharfCluster.snapshot(node)["clients"]}


def gone(c, node, client) -> None:
    """DISCONNECT, and wait until `node` no longer lists the client as
    connected: a message published before that could still reach (and be
    acknowledged by) the connection that is going."""
    client_id = client.client._client_id.decode()
    client.disconnect()
    c._poll(lambda: client_id not in connected_ids(node), 10,
            lambda last: f"{node.name} still lists {client_id} as connected", node)


def offline_subscriber(c, node, client_id: str, topic: str) -> None:
    """A 3.1.1 persistent session subscribed to `topic/#` at QoS 1 on `node`,
    then gone (DISCONNECT), routed from every node."""
    sub = paho(node.port, client_id, clean=False)
    assert routed_everywhere(c, lambda: sub.subscribe(f"{topic}/#", 1)) == [1]
    gone(c, node, sub)


def test_queued_messages_follow_the_session_to_another_node_in_order(nodes):
    a, b = nodes.nodes
    client_id, topic = uid("follow"), uid("orders")
    offline_subscriber(nodes, a, client_id, topic)
    publisher = paho(b.port, uid("pub"))
    sent = [f"m{i}".encode() for i in range(30)]
    for i, body in enumerate(sent):
        publisher.publish(f"{topic}/{i}", body, qos=1)
    # QoS 0 is not queued for a session that is offline, as on one node.
    publisher.publish(f"{topic}/zero", b"qos0", qos=0)
    publisher.disconnect()

    back = paho(b.port, client_id, clean=False)
    assert back.session_present is True
    got = payloads(back.get_all(30, timeout=20))
    assert got == sent, f"{len(got)} of 30 arrived; node-b log tail:\n{b.log_tail()}"
    assert back.nothing_for(1.0)
    back.disconnect()
    # Acknowledged on B: nothing comes back on A either.
    again = paho(a.port, client_id, clean=False)
    assert again.session_present is True
    assert again.nothing_for(1.5)
    again.disconnect()


def test_unacknowledged_deliveries_come_back_on_another_node(nodes):
    """A raw client takes three QoS 1 messages on A and acknowledges only the
    first; on B it gets the other two again with DUP, and not the first; a
    message queued while it was away comes after them, without DUP."""
    a, b = nodes.nodes
    client_id, topic = uid("unacked"), uid("jobs")
    first = rawmqtt.RawClient(a.port)
    assert first.connect(client_id, clean=False)[1] == 0
    assert routed_everywhere(nodes, lambda: first.subscribe(1, (f"{topic}/#", 1))) == [1]
    publisher = paho(b.port, uid("pub"))
    for body in (b"one", b"two", b"three"):
        publisher.publish(f"{topic}/x", body, qos=1)
    got = [first.read_type(rawmqtt.PUBLISH, timeout=10).publish_fields() for _ in range(3)]
    assert [g[3] for g in got] == [b"one", b"two", b"three"]
    first.send(rawmqtt.ack(rawmqtt.PUBACK, got[0][1]))
    time.sleep(0.5)  # the acknowledgement reaches the queue (its entry deleted within 20 ms)
    first.sock.close()
    time.sleep(0.5)  # A sees the connection end
    publisher.publish(f"{topic}/x", b"four", qos=1)

    second = rawmqtt.RawClient(b.port)
    present, code, _ = second.connect(client_id, clean=False)
    assert (present, code) == (True, 0)
    packets = [second.read_type(rawmqtt.PUBLISH, timeout=10) for _ in range(3)]
    again = [p.publish_fields() for p in packets]
    assert [g[3] for g in again] == [b"two", b"three", b"four"]
    # Sent before by A: DUP (MQTT 4.3.2/4.4); never sent: not.
    assert [p.dup for p in packets] == [True, True, False]
    for g in again:
        second.send(rawmqtt.ack(rawmqtt.PUBACK, g[1]))
    with pytest.raises(socket.timeout):
        second.read_type(rawmqtt.PUBLISH, timeout=1.0)
    second.send(rawmqtt.disconnect())
    publisher.disconnect()


def test_qos2_messages_queued_elsewhere_arrive_exactly_once(nodes):
    a, b = nodes.nodes
    client_id, topic = uid("exactly"), uid("payments")
    sub = paho5(a.port, client_id, clean_start=False, session_expiry=300)
    assert routed_everywhere(nodes, lambda: sub.subscribe(f"{topic}/#", qos=2)) == [2]
    gone(nodes, a, sub)
    publisher = paho5(b.port, uid("pub"))
    sent = [f"p{i}".encode() for i in range(10)]
    for body in sent:
        assert publisher.publish(f"{topic}/1", body, qos=2) == 0
    back = paho5(b.port, client_id, clean_start=False, session_expiry=300)
    assert back.session_present is True
    received = back.get_all(10, timeout=20)
    assert payloads(received) == sent and all(m.qos == 2 for m in received)
    assert back.nothing_for(1.0)
    back.disconnect()
    publisher.disconnect()


def test_a_qos2_delivery_past_pubrec_resumes_with_pubrel_on_another_node(nodes):
    """The subscriber sent PUBREC on A and got PUBREL, but its PUBCOMP never
    reached A. On B the exchange resumes: PUBREL under the same packet id, and
    the message is not sent again (a client that delivers at PUBLISH would
    see it twice)."""
    a, b = nodes.nodes
    client_id, topic = uid("pubrel"), uid("ledger")
    first = rawmqtt.RawClient(a.port)
    assert first.connect(client_id, clean=False)[1] == 0
    assert routed_everywhere(nodes, lambda: first.subscribe(1, (f"{topic}/#", 2))) == [2]
    publisher = paho(b.port, uid("pub"))
    publisher.publish(f"{topic}/1", b"entry", qos=2)
    _, pid, _, body = first.read_type(rawmqtt.PUBLISH, timeout=10).publish_fields()
    assert body == b"entry"
    first.send(rawmqtt.ack(rawmqtt.PUBREC, pid))
    assert first.read_type(rawmqtt.PUBREL).ack_fields()[0] == pid
    first.sock.close()  # no PUBCOMP
    time.sleep(0.5)

    second = rawmqtt.RawClient(b.port)
    assert second.connect(client_id, clean=False)[:2] == (True, 0)
    resumed = second.read(timeout=10)
    assert (resumed.type, resumed.ack_fields()[0]) == (rawmqtt.PUBREL, pid)
    second.send(rawmqtt.ack(rawmqtt.PUBCOMP, pid))
    with pytest.raises(socket.timeout):
        got = second.read(timeout=1.5)
        raise AssertionError(f"after PUBCOMP: {got}")
    second.send(rawmqtt.disconnect())
    # Completed on B: nothing of it on A either.
    third = rawmqtt.RawClient(a.port)
    assert third.connect(client_id, clean=False)[:2] == (True, 0)
    with pytest.raises(socket.timeout):
        got = third.read(timeout=1.5)
        raise AssertionError(f"back on A: {got}")
    third.send(rawmqtt.disconnect())
    publisher.disconnect()


def queue_figures(node, name):
    """The queue `name` in `node`'s snapshot, or None when the node does not report it."""
    return next((q for q in WharfCluster.snapshot(node)["queues"] if q["name"] == name), None)


def test_an_offline_sessions_backlog_is_reported_by_one_node(nodes):
    """Seven messages wait in the queue of a session that went offline on A,
    published through B: A (which held the session last) reports a depth of
    7 and their age, B reports nothing for it, so a sum over nodes is the
    real backlog. Once the session is delivered on B, B reports it."""
    a, b = nodes.nodes
    client_id, topic = uid("backlog"), uid("metrics")
    offline_subscriber(nodes, a, client_id, topic)
    publisher = paho(b.port, uid("pub"))
    for i in range(7):
        publisher.publish(f"{topic}/{i}", b"waiting", qos=1)
    publisher.disconnect()
    time.sleep(1.0)  # the messages have an age
    on_a = nodes._poll(lambda: (lambda q: q if q and q["depth"] == 7 else None)(queue_figures(a, client_id)), 10,
                       lambda last: f"A reports {queue_figures(a, client_id)}", a)
    assert on_a["lagMessages"] == 7 and on_a["consumers"] == 0
    assert on_a["lagSeconds"] >= 1.0
    assert queue_figures(b, client_id) is None

    back = paho(b.port, client_id, clean=False)
    assert len(back.get_all(7, timeout=20)) == 7
    nodes._poll(lambda: [0] if queue_figures(a, client_id) is None else None, 10,
                lambda last: f"A still reports {queue_figures(a, client_id)}", a)
    on_b = nodes._poll(lambda: (lambda q: q if q and q["lagMessages"] == 0 else None)(queue_figures(b, client_id)), 10,
                       lambda last: f"B reports {queue_figures(b, client_id)}", b)
    assert on_b["consumers"] == 1
    back.disconnect()


def test_a_clean_start_elsewhere_drops_the_queue(nodes):
    a, b = nodes.nodes
    client_id, topic = uid("dropq"), uid("stale")
    offline_subscriber(nodes, a, client_id, topic)
    publisher = paho(b.port, uid("pub"))
    for i in range(5):
        publisher.publish(f"{topic}/{i}", b"old", qos=1)
    publisher.disconnect()
    fresh = paho(b.port, client_id, clean=True)
    assert fresh.session_present is False
    assert fresh.nothing_for(1.0)
    fresh.disconnect()
    later = paho(a.port, client_id, clean=False)
    assert later.session_present is False
    assert later.nothing_for(1.0)
    later.disconnect()


def test_deliveries_in_flight_when_the_node_dies_come_back_with_dup(nats_cluster, tmp_path):
    """A raw client takes QoS 1 messages on A without acknowledging them and
    A is killed: on B they come again, in order, with DUP set (A may have
    sent them; 3.1.1 section 4.4)."""
    c = WharfCluster(nats_cluster, tmp_path, ("node-a", "node-b"))
    try:
        a, b = c.nodes
        client_id, topic = uid("inflight"), uid("jobs")
        first = rawmqtt.RawClient(a.port)
        assert first.connect(client_id, clean=False)[1] == 0
        assert routed_everywhere(c, lambda: first.subscribe(1, (f"{topic}/#", 1))) == [1]
        publisher = paho(b.port, uid("pub"))
        sent = [f"j{i}".encode() for i in range(5)]
        for body in sent:
            publisher.publish(f"{topic}/x", body, qos=1)
        got = [first.read_type(rawmqtt.PUBLISH, timeout=10) for _ in range(5)]
        assert [p.publish_fields()[3] for p in got] == sent
        assert not any(p.dup for p in got)
        c.kill(a)
        first.sock.close()

        second = rawmqtt.RawClient(b.port)
        present, code, _ = second.connect(client_id, clean=False)
        assert (present, code) == (True, 0)
        again = [second.read_type(rawmqtt.PUBLISH, timeout=20) for _ in range(5)]
        assert [p.publish_fields()[3] for p in again] == sent
        assert all(p.dup for p in again)
        for p in again:
            second.send(rawmqtt.ack(rawmqtt.PUBACK, p.publish_fields()[1]))
        second.send(rawmqtt.disconnect())
        publisher.disconnect()
    finally:
        c.close(check=False)


def test_a_killed_node_loses_no_queued_message(nats_cluster, tmp_path):
    """The session's node is killed (kill -9) with messages queued for the
    session, published through the other node and acknowledged: the client
    comes back on the other node and gets every one of them."""
    c = WharfCluster(nats_cluster, tmp_path, ("node-a", "node-b"))
    try:
        a, b = c.nodes
        client_id, topic = uid("survivor"), uid("telemetry")
        sub = paho5(a.port, client_id, clean_start=False, session_expiry=600)
        assert routed_everywhere(c, lambda: sub.subscribe(f"{topic}/#", qos=1)) == [1]
        publisher = paho5(b.port, uid("pub"))
        assert publisher.publish(f"{topic}/live", b"live", qos=1) == 0
        assert sub.get(timeout=10).payload == b"live"
        gone(c, a, sub)
        sent = [f"t{i}".encode() for i in range(20)]
        for body in sent:
            assert publisher.publish(f"{topic}/x", body, qos=1) == 0
        c.kill(a)
        back = paho5(b.port, client_id, clean_start=False, session_expiry=600)
        assert back.session_present is True
        got = back.get_all(20, timeout=20)
        assert payloads(got) == sent
        # Queued while offline, after a clean DISCONNECT: never sent, so no DUP.
        assert not any(m.dup for m in got)
        assert back.nothing_for(1.0), "the message delivered on A before it died does not come back"
        back.disconnect()
        publisher.disconnect()
    finally:
        c.close(check=False)


def test_a_dead_nodes_offline_session_is_adopted_reported_and_expired(nats_cluster, tmp_path):
    """A 5.0 session with a 15 s expiry goes offline on A with seven messages
    queued for it, and A is killed. B adopts the session once A's lease has
    lapsed: B now reports its backlog (so the sum over live nodes is still
    the real one), and B expires it on time: 15 s after the disconnect the
    record and the queue are gone, and the client finds no session."""
    c = WharfCluster(nats_cluster, tmp_path, ("node-a", "node-b"))
    try:
        a, b = c.nodes
        client_id, topic = uid("orphan"), uid("backlog")
        sub = paho5(a.port, client_id, clean_start=False, session_expiry=15)
        assert routed_everywhere(c, lambda: sub.subscribe(f"{topic}/#", qos=1)) == [1]
        gone(c, a, sub)
        went_offline = time.monotonic()
        publisher = paho5(b.port, uid("pub"))
        for i in range(7):
            assert publisher.publish(f"{topic}/{i}", b"waiting", qos=1) == 0
        publisher.disconnect()
        c._poll(lambda: [0] if (queue_figures(a, client_id) or {}).get("depth") == 7 else None, 10,
                lambda last: f"A reports {queue_figures(a, client_id)}", a)
        assert queue_figures(b, client_id) is None
        c.kill(a)

        on_b = c._poll(lambda: (lambda q: q if q and q["depth"] == 7 else None)(queue_figures(b, client_id)), 15,
                       lambda last: f"B reports {queue_figures(b, client_id)}", b)
        assert on_b["consumers"] == 0 and on_b["lagSeconds"] > 0

        # Expired on B: 15 s after the DISCONNECT, not after the adoption.
        c._poll(lambda: [0] if queue_figures(b, client_id) is None else None, 25,
                lambda last: f"B still reports {queue_figures(b, client_id)}", b)
        assert time.monotonic() - went_offline < 15 + 8
        back = paho5(b.port, client_id, clean_start=False, session_expiry=15)
        assert back.session_present is False
        assert back.nothing_for(1.0), "its queue went with it"
        back.disconnect()
    finally:
        c.close(check=False)
