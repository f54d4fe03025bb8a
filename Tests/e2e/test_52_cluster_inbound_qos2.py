"""Cluster mode, inbound QoS 2 across nodes (docs/cluster.md, "QoS 2 across
nodes"): a publisher whose persistent session moves to another node between
PUBLISH and PUBCOMP completes the exchange there, and every subscriber gets
the message exactly once: a clean one on each node (local deliveries and
forwards) and a persistent one (its queue in WHARF_Q).

The node a QoS 2 PUBLISH arrives on first writes the exchange into the
session's record before routing it. A record whose exchange was not routed in
full (its node died in between) is written here with nats-py, which is the
only way to stop a node at exactly that point; the node the client then sends
the PUBLISH again to must route it, and a second node doing the same must not
deliver it twice.

Raw MQTT 5.0 publishers (to see reason codes and send DUP by hand), paho
subscribers, on 127.0.0.1, over a three-server NATS cluster. Every wait is
bounded."""
import asyncio
import base64
import json
import uuid

import nats
import pytest

import rawmqtt
from mqttclients import paho
from natscluster import available, nats_cluster_shared  # noqa: F401 (fixture)
from wharfcluster import WharfCluster

pytestmark = pytest.mark.skipif(not available(), reason="nats-server is not installed")

V5 = rawmqtt.MQTT_5
EXPIRY = [(rawmqtt.SESSION_EXPIRY, 300)]


@pytest.fixture(scope="module")
def nodes(nats_cluster_shared, tmp_path_factory):
    c = WharfCluster(nats_cluster_shared, tmp_path_factory.mktemp("wharf-qos2"), ("node-a", "node-b"))
    yield c
    c.close()


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class Watchers:
    """A clean subscriber on each node and a persistent one on B (its queue in
    the cluster), all at QoS 2 on `topic`, routed from every node."""

    def __init__(self, c, topic: str):
        a, b = c.nodes
        self.c = c
        routes = {n.name: c.remote_routes(n) for n in c.nodes}
        self.routes_before = routes
        queues = {n.name: c.session_routes(n) for n in c.nodes}
        self.clean_a = paho(a.port, uid("clean-a"))
        self.clean_b = paho(b.port, uid("clean-b"))
        self.durable = paho(b.port, uid("durable"), clean=False)
        assert self.clean_a.subscribe(topic, 2) == [2]
        assert self.clean_b.subscribe(topic, 2) == [2]
        assert self.durable.subscribe(topic, 2) == [2]
        c.wait_route(a, routes["node-a"] + 1)
        c.wait_route(b, routes["node-b"] + 1)
        for n in c.nodes:
            c.wait_session_routes(n, queues[n.name] + 1)

    @property
    def all(self):
        return (self.clean_a, self.clean_b, self.durable)

    def each_got_once(self, payload: bytes, c) -> None:
        for name, sub in zip(("clean on A", "clean on B", "persistent on B"), self.all):
            got = [m.payload for m in sub.get_all(1, timeout=10)]
            assert got == [payload], f"{name} got {got}\n" + "\n".join(n.log_tail(15) for n in c.nodes)
        for name, sub in zip(("clean on A", "clean on B", "persistent on B"), self.all):
            assert sub.nothing_for(1.0 if sub is self.durable else 0.3), f"{name} got {payload!r} twice"

    def close(self):
        """Disconnects them, and waits until the clean ones' routes are gone
        everywhere, so the next test counts its own."""
        for sub in self.all:
            sub.disconnect()
        for n in self.c.nodes:
            self.c.wait_routes_at_most(n, self.routes_before[n.name])


def publisher(node, client_id: str) -> rawmqtt.RawClient:
    raw = rawmqtt.RawClient(node.port, version=V5, timeout=10)
    present, code, _ = raw.connect(client_id, clean=False, props=EXPIRY)
    assert code == 0
    return raw


def send_publish(raw, topic: str, payload: bytes, pid: int, dup: bool = False) -> int:
    """QoS 2 PUBLISH; returns the PUBREC's reason code."""
    raw.send(rawmqtt.publish(topic, payload, qos=2, pid=pid, dup=dup, version=V5))
    got_pid, reason, _ = raw.read_type(rawmqtt.PUBREC, timeout=10).ack_fields()
    assert got_pid == pid
    return reason


def release(raw, pid: int) -> int:
    """PUBREL; returns the PUBCOMP's reason code."""
    raw.send(rawmqtt.ack(rawmqtt.PUBREL, pid))
    got_pid, reason, _ = raw.read_type(rawmqtt.PUBCOMP, timeout=10).ack_fields()
    assert got_pid == pid
    return reason


def gone(c, node, raw, client_id: str) -> None:
    """Closes the socket and waits until `node` no longer lists the client."""
    raw.sock.close()
    c._poll(lambda: client_id not in {x["clientId"] for x in WharfCluster.snapshot(node)["clients"]}, 10,
            lambda last: f"{node.name} still lists {client_id}", node)


def record_key(client_id: str) -> str:
    return "t." + base64.urlsafe_b64encode(client_id.encode()).decode().rstrip("=")


def edit_record(urls, client_id: str, change) -> dict:
    """Reads the session's record with nats-py, applies `change` to its JSON, writes it back."""
    async def run():
        nc = await nats.connect(servers=urls, connect_timeout=5)
        try:
            kv = await nc.jetstream().key_value("wharf_sessions")
            entry = await kv.get(record_key(client_id))
            record = json.loads(entry.value)
            change(record)
            await kv.update(record_key(client_id), json.dumps(record).encode(), last=entry.revision)
            return record
        finally:
            await nc.close()
    return asyncio.run(asyncio.wait_for(run(), timeout=20))


def test_pubrel_on_another_node_completes_the_exchange(nodes):
    """PUBLISH and PUBREC on A, PUBREL on B: PUBCOMP 0 (the record holds the
    exchange), one copy each; the packet id is free again afterwards."""
    a, b = nodes.nodes
    topic, client_id = uid("orders"), uid("pub")
    watchers = Watchers(nodes, topic)
    first = publisher(a, client_id)
    assert send_publish(first, topic, b"first", 5) < 0x80
    gone(nodes, a, first, client_id)

    second = publisher(b, client_id)
    assert release(second, 5) == 0, "B did not know the exchange A began"
    watchers.each_got_once(b"first", nodes)
    # The record forgot the exchange: the id is a new message now.
    assert send_publish(second, topic, b"reused", 5) < 0x80
    assert release(second, 5) == 0
    watchers.each_got_once(b"reused", nodes)
    second.sock.close()
    watchers.close()


def test_a_publish_sent_again_on_another_node_is_not_routed_twice(nodes):
    """PUBLISH on A (PUBREC lost with the connection), the same PUBLISH with
    DUP on B: acknowledged there, delivered once."""
    a, b = nodes.nodes
    topic, client_id = uid("orders"), uid("pub")
    watchers = Watchers(nodes, topic)
    first = publisher(a, client_id)
    assert send_publish(first, topic, b"once", 7) < 0x80
    gone(nodes, a, first, client_id)

    second = publisher(b, client_id)
    assert send_publish(second, topic, b"once", 7, dup=True) < 0x80
    assert release(second, 7) == 0
    watchers.each_got_once(b"once", nodes)
    second.sock.close()
    watchers.close()


def test_an_exchange_its_node_did_not_route_is_routed_once_wherever_it_is_sent_again(nodes, nats_cluster_shared):
    """The record holds an exchange that was never routed (its node died
    between the record and the route): the client's PUBLISH sent again on B
    is routed, once. If B too is taken for dead before it marked the
    exchange routed, A routes it again under the same identity, and nobody
    gets it twice: not the persistent subscriber, whose copy was acknowledged
    and deleted, nor the clean ones."""
    a, b = nodes.nodes
    topic, client_id = uid("orders"), uid("pub")
    watchers = Watchers(nodes, topic)
    first = publisher(a, client_id)
    gone(nodes, a, first, client_id)
    edit_record(nats_cluster_shared.urls, client_id, lambda r: r.update(
        received=[{"packetId": 9, "epoch": 999_999, "serial": 1, "routed": False}]))

    second = publisher(b, client_id)
    assert send_publish(second, topic, b"late", 9, dup=True) < 0x80
    watchers.each_got_once(b"late", nodes)
    gone(nodes, b, second, client_id)

    def not_routed(record):
        assert record["received"] == [{"packetId": 9, "epoch": 999_999, "serial": 1, "routed": True}], record
        record["received"][0]["routed"] = False
    edit_record(nats_cluster_shared.urls, client_id, not_routed)

    third = publisher(a, client_id)
    assert send_publish(third, topic, b"late", 9, dup=True) < 0x80
    assert release(third, 9) == 0
    for name, sub in zip(("clean on A", "clean on B", "persistent on B"), watchers.all):
        assert sub.nothing_for(1.5 if sub is watchers.durable else 0.5), f"{name} got it twice"
    third.sock.close()
    watchers.close()
