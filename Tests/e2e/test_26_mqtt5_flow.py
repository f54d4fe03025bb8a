"""MQTT 5.0 flow control (section 4.9) and packet size limits (3.1.2.11.4,
3.2.2.3.6): the client's Receive Maximum and Maximum Packet Size bind the
broker; the broker's bind the client.

WHARF_E2E_REFERENCE=mosquitto runs the tests not marked wharf_only against
mosquitto, to prove the tests themselves right."""
import socket
import time

import pytest

import rawmqtt as r
from mqtt5clients import broker5, broker5_factory, paho5, snapshot, wharf_only  # noqa: F401 (fixtures)


def _slow_consumer(broker, uid, qos, receive_maximum=5, count=50):
    sub = paho5(broker.port, f"{uid}-slow", manual_ack=True, receive_maximum=receive_maximum)
    assert sub.subscribe(f"{uid}/flow", qos) == [qos]
    pub = paho5(broker.port, f"{uid}-p")
    for i in range(count):
        pub.publish(f"{uid}/flow", str(i).encode(), qos=qos, wait=False)
    return sub, pub


@pytest.mark.parametrize("qos", [1, 2])
def test_receive_maximum_bounds_the_first_burst_and_acks_release_the_rest(broker5, uid, qos):
    sub, pub = _slow_consumer(broker5, uid, qos)
    first = sub.get_all(50, timeout=1.5)
    assert len(first) == 5, f"{len(first)} unacknowledged deliveries outstanding, Receive Maximum is 5"
    received, pending = list(first), list(first)
    deadline = time.monotonic() + 20
    while len(received) < 50 and time.monotonic() < deadline:
        for m in pending:
            sub.ack(m)
        pending = sub.get_all(50 - len(received), timeout=0.5)
        received += pending
    for m in pending:
        sub.ack(m)
    assert [int(m.payload) for m in received] == list(range(50)), "all 50, in order"
    sub.nothing_for(0.3)
    sub.disconnect()
    pub.disconnect()


@wharf_only  # mosquitto 2.0.11 refills its whole send quota on one PUBACK (6 outstanding for 5), against MQTT-4.9.0-2
@pytest.mark.parametrize("qos", [1, 2])
def test_client_receive_maximum_is_never_exceeded_while_acknowledging(broker5, uid, qos):
    sub, pub = _slow_consumer(broker5, uid, qos)
    received = pending = sub.get_all(50, timeout=1.5)
    assert len(pending) == 5
    deadline = time.monotonic() + 20
    while len(received) < 50 and time.monotonic() < deadline:
        for m in pending:
            sub.ack(m)
        pending = sub.get_all(5, timeout=2)
        pending += sub.get_all(1, timeout=0.2)  # a sixth would break the limit
        assert len(pending) <= 5, f"{len(pending)} outstanding after {len(received)}, Receive Maximum is 5"
        received = received + pending
    for m in pending:
        sub.ack(m)
    assert [int(m.payload) for m in received] == list(range(50))
    sub.disconnect()
    pub.disconnect()


@wharf_only  # mosquitto 2.0.11 refills its whole send quota on one PUBACK (6 outstanding for 3), against MQTT-4.9.0-2
def test_receive_maximum_on_the_wire_never_exceeded(broker5, uid):
    """Raw client, Receive Maximum 3, acknowledging one message at a time."""
    sub = r.RawClient(broker5.port, version=5)
    sub.connect(f"{uid}-raw", props=[(r.RECEIVE_MAXIMUM, 3)])
    assert sub.subscribe(1, (f"{uid}/w", 1)) == [1]
    pub = paho5(broker5.port, f"{uid}-p")
    for i in range(20):
        pub.publish(f"{uid}/w", str(i).encode(), qos=1, wait=False)
    outstanding, payloads = [], []
    while len(payloads) < 20:
        try:
            p = sub.read(timeout=1.0)
        except (socket.timeout, TimeoutError):
            assert len(outstanding) == 3, f"stalled with {len(outstanding)} outstanding after {len(payloads)}"
            sub.send(r.ack(r.PUBACK, outstanding.pop(0)))
            continue
        assert p.type == r.PUBLISH
        _, pid, _, payload = p.publish_fields()
        outstanding.append(pid)
        payloads.append(int(payload))
        assert len(outstanding) <= 3, f"{len(outstanding)} outstanding, Receive Maximum is 3"
    assert payloads == list(range(20))
    sub.close()
    pub.disconnect()


def test_client_maximum_packet_size_drops_only_too_large_messages(broker5, uid):
    small = r.RawClient(broker5.port, version=5)
    small.connect(f"{uid}-small", props=[(r.MAXIMUM_PACKET_SIZE, 256)])
    assert small.subscribe(1, (f"{uid}/size", 1)) == [1]
    big = paho5(broker5.port, f"{uid}-big")
    big.subscribe(f"{uid}/size", 1)
    pub = paho5(broker5.port, f"{uid}-p")
    for payload in (b"a" * 100, b"b" * 1000, b"c" * 100):
        pub.publish(f"{uid}/size", payload, qos=1)
    got = []
    try:
        while True:
            p = small.read(timeout=1.0)
            assert 1 + len(r.varint(len(p.body))) + len(p.body) <= 256, "never a packet over the client's maximum"
            if p.type == r.PUBLISH:
                _, pid, _, payload = p.publish_fields()
                small.send(r.ack(r.PUBACK, pid))
                got.append(payload[:1])
    except (socket.timeout, TimeoutError):
        pass
    assert got == [b"a", b"c"], "the oversized message is skipped, the connection kept"
    assert [len(m.payload) for m in big.get_all(3)] == [100, 1000, 100], "other subscribers get everything"
    if (snap := snapshot(broker5)) is not None:
        assert snap["messages"]["droppedTotal"]["packet_too_large"] == 1
    small.close()
    big.disconnect()
    pub.disconnect()


def test_paho_maximum_packet_size_property(broker5, uid):
    sub = paho5(broker5.port, f"{uid}-s", maximum_packet_size=512)
    sub.subscribe(f"{uid}/m", 1)
    pub = paho5(broker5.port, f"{uid}-p")
    pub.publish(f"{uid}/m", b"x" * 2000, qos=1)
    pub.publish(f"{uid}/m", b"fits", qos=1)
    assert [m.payload for m in sub.get_all(2, timeout=2)] == [b"fits"]
    sub.disconnect()
    pub.disconnect()


def test_packet_over_the_servers_maximum_disconnects_with_0x95(broker5_factory, uid):
    b = broker5_factory("[limits]\nmax_packet_size = 1024\n", mosquitto="max_packet_size 1024")
    c = r.RawClient(b.port, version=5)
    assert c.connect(f"{uid}-big")[2].get(r.MAXIMUM_PACKET_SIZE) == 1024
    c.publish_acked(f"{uid}/ok", b"x" * 900, 1, 1)
    c.send(r.publish(f"{uid}/big", b"x" * 2000, qos=1, pid=2, version=5))
    assert c.server_disconnect()[0] == r.PACKET_TOO_LARGE


@wharf_only  # mosquitto 2.0.11 does not enforce its Receive Maximum on clients
def test_more_qos2_publishes_awaiting_pubrel_than_receive_maximum_disconnects_0x93(broker5_factory, uid):
    b = broker5_factory("[limits]\nreceive_maximum = 2\n")
    c = r.RawClient(b.port, version=5)
    assert c.connect(f"{uid}-flood")[2].get(r.RECEIVE_MAXIMUM) == 2
    for pid in (1, 2, 3):
        c.send(r.publish(f"{uid}/q2", b"x", qos=2, pid=pid, version=5))
    reason, _ = c.server_disconnect()
    assert reason == r.RECEIVE_MAXIMUM_EXCEEDED
    assert [p.ack_fields()[0] for p in c.seen if p.type == r.PUBREC] == [1, 2]


def test_qos2_publishes_within_the_servers_receive_maximum_flow(broker5_factory, uid):
    b = broker5_factory("[limits]\nreceive_maximum = 2\n", mosquitto="max_inflight_messages 2")
    sub = paho5(b.port, f"{uid}-s")
    sub.subscribe(f"{uid}/q2", 2)
    c = r.RawClient(b.port, version=5)
    assert c.connect(f"{uid}-ok")[2].get(r.RECEIVE_MAXIMUM) == 2
    for round_ in range(5):
        pids = (2 * round_ + 1, 2 * round_ + 2)
        for pid in pids:
            c.send(r.publish(f"{uid}/q2", str(pid).encode(), qos=2, pid=pid, version=5))
        for pid in pids:
            assert c.read_type(r.PUBREC).ack_fields()[:2] == (pid, 0)
        for pid in pids:
            c.send(r.ack(r.PUBREL, pid))
            assert c.read_type(r.PUBCOMP).ack_fields()[0] == pid
    assert [int(m.payload) for m in sub.get_all(10)] == list(range(1, 11))
    c.close()
    sub.disconnect()


def test_paho_publisher_respects_the_servers_receive_maximum(broker5_factory, uid):
    """A real client held to Receive Maximum 2 still gets 100 QoS 2 messages through
    (the broker frees a slot at each PUBCOMP)."""
    b = broker5_factory("[limits]\nreceive_maximum = 2\n", mosquitto="max_inflight_messages 2")
    sub = paho5(b.port, f"{uid}-s")
    sub.subscribe(f"{uid}/many", 2)
    pub = paho5(b.port, f"{uid}-p", max_inflight=2)  # paho 2.2 ignores the CONNACK's Receive Maximum
    assert pub.connack.ReceiveMaximum == 2
    infos = [pub.publish(f"{uid}/many", str(i).encode(), qos=2, wait=False) for i in range(100)]
    for info in infos:
        info.wait_for_publish(timeout=10)
    assert [int(m.payload) for m in sub.get_all(100, timeout=15)] == list(range(100))
    sub.disconnect()
    pub.disconnect()
