"""Protocol corners an interoperability lab finds first (issue 14), with a raw
client that sends the exact packets and checks the exact bytes: wills on
takeover, the MQTT 3.1 CONNACK, acknowledgements of the wrong type, and the
reason codes for a SUBSCRIBE asking QoS 3 and an UNSUBSCRIBE of an invalid
filter.

WHARF_E2E_REFERENCE=mosquitto runs the tests not marked wharf_only against
Mosquitto (see mqtt5clients.py); where it differs from the spec, the mark says how."""
import socket
import struct
import time

import pytest

import rawmqtt as r
from goodclient import metric
from mqtt5clients import REFERENCE, broker5, broker5_factory, wharf_only  # noqa: F401 (fixtures)


def watcher(port, uid, topic):
    """A 5.0 client subscribed to `topic`, to see whether a will is published."""
    w = r.RawClient(port, version=5)
    assert w.connect(f"{uid}-watch")[1] == r.SUCCESS
    assert w.subscribe(1, (topic, 1)) == [1]
    return w


def no_publish_within(client, seconds):
    """True if no PUBLISH arrives within `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            p = client.read(timeout=max(0.01, deadline - time.monotonic()))
        except (socket.timeout, TimeoutError):
            return True
        if p.type == r.PUBLISH:
            return False


# --- 1. and 2. wills on takeover (5.0) ----------------------------------------------------------

def test_takeover_that_resumes_the_session_sends_no_will(broker5, uid):
    """A's will (delay 0) is not sent: B, with clean start 0, resumed A's session
    before A's connection closed [MQTT-3.1.3-9]."""
    topic = f"{uid}/will"
    w = watcher(broker5.port, uid, topic)
    a = r.RawClient(broker5.port, version=5)
    assert a.connect(f"{uid}-c", clean=False, props=[(r.SESSION_EXPIRY, 60)],
                     will=(topic, b"gone", 1, False))[1] == r.SUCCESS
    b = r.RawClient(broker5.port, version=5)
    present, reason, _ = b.connect(f"{uid}-c", clean=False, props=[(r.SESSION_EXPIRY, 60)])
    assert (present, reason) == (True, r.SUCCESS)
    # Mosquitto 2.0.11 closes the old connection without the DISCONNECT 0x8E 5.0 section 3.1.4 asks for.
    assert a.server_disconnect()[0] == (None if REFERENCE == "mosquitto" else r.SESSION_TAKEN_OVER)
    assert no_publish_within(w, 1.0), "the will of a session that lives on was published"
    b.send(r.disconnect())
    for c in (w, a, b):
        c.close()


@wharf_only  # mosquitto 2.0.11 waits out the delay
def test_clean_start_takeover_publishes_a_delayed_will_at_once(broker5, uid):
    """A (session expiry 30, will delay 3) taken over by B with clean start 1: A's
    session ends then, so its will is due then, not 3 s later (5.0 3.1.3.2.2)."""
    topic = f"{uid}/will"
    w = watcher(broker5.port, uid, topic)
    a = r.RawClient(broker5.port, version=5)
    assert a.connect(f"{uid}-c", clean=False, props=[(r.SESSION_EXPIRY, 30)],
                     will=(topic, b"gone", 1, False, [(r.WILL_DELAY, 3)]))[1] == r.SUCCESS
    b = r.RawClient(broker5.port, version=5)
    started = time.monotonic()
    present, reason, _ = b.connect(f"{uid}-c", clean=True)
    assert (present, reason) == (False, r.SUCCESS)
    received_topic, _, _, payload, _ = w.message(timeout=2.5)
    assert (received_topic, payload) == (topic, b"gone")
    assert time.monotonic() - started < 2.5, "the will waited for its delay though its session had ended"
    # Nothing stale later: a further CONNECT for the client id releases no second will.
    b.send(r.disconnect())
    c = r.RawClient(broker5.port, version=5)
    assert c.connect(f"{uid}-c", clean=True)[1] == r.SUCCESS
    assert no_publish_within(w, 1.0)
    for client in (w, a, b, c):
        client.close()


# --- 3. the MQTT 3.1 CONNACK --------------------------------------------------------------------

@pytest.mark.parametrize("level,name,second", [(3, "MQIsdp", b"\x20\x02\x00\x00"), (4, "MQTT", b"\x20\x02\x01\x00")],
                         ids=["mqtt3.1", "mqtt3.1.1"])
def test_connack_session_present_exists_from_3_1_1(broker5, uid, level, name, second):
    """A 3.1 client resuming its session gets 20 02 00 00: the first byte is
    reserved in 3.1 (session present exists from 3.1.1, which gets 20 02 01 00)."""
    client_id = f"{uid[:12]}-{level}"  # 3.1 allows 23 bytes
    for expected in (b"\x20\x02\x00\x00", second):
        c = r.RawClient(broker5.port)
        c.send(r.connect(client_id, clean=False, level=level, name=name))
        p = c.read()
        assert bytes([p.type << 4 | p.flags, len(p.body)]) + p.body == expected
        c.send(r.DISCONNECT_BYTES)
        c.close()
        time.sleep(0.1)


# --- 4. acknowledgements of the wrong type -------------------------------------------------------

WRONG = {
    # name: (delivery QoS, the packet type the subscriber answers it with)
    "pubrec_for_qos1": (1, r.PUBREC),
    "puback_for_qos2": (2, r.PUBACK),
    "pubcomp_before_pubrec": (2, r.PUBCOMP),
}


@pytest.mark.parametrize("version", [4, 5], ids=["mqtt3.1.1", "mqtt5"])
@pytest.mark.parametrize("name", sorted(WRONG))
@wharf_only  # mosquitto 2.0.11 ignores these acknowledgements
def test_acknowledgement_of_the_wrong_type_is_a_protocol_error(broker5, uid, version, name):
    """3.1.1 closes the connection (4.8); 5.0 sends DISCONNECT 0x82 first. The
    wrong acknowledgement gets no reply (no PUBREL for a QoS 1 delivery)."""
    qos, answer = WRONG[name]
    topic = f"{uid}/t"
    s = r.RawClient(broker5.port, version=version)
    if version == 5:
        assert s.connect(f"{uid}-s")[1] == r.SUCCESS
        assert s.subscribe(1, (topic, qos)) == [qos]
    else:
        s.send(r.connect(f"{uid}-s"))
        assert s.read().body == b"\x00\x00"
        s.send(r.subscribe(1, (topic, qos)))
        assert s.read_type(r.SUBACK).body == b"\x00\x01" + bytes([qos])
    p = r.RawClient(broker5.port, version=5)
    assert p.connect(f"{uid}-p")[1] == r.SUCCESS
    p.send(r.publish(topic, b"m", qos=qos, pid=7, version=5))
    delivery = s.read_type(r.PUBLISH)
    assert delivery.qos == qos
    pid = struct.unpack("!H", delivery.body[2 + len(topic.encode()):4 + len(topic.encode())])[0]
    closes_before = metric(broker5, "wharf_connections_closed_by_server_total", reason="protocol_error") or 0
    s.send(r.ack(answer, pid))
    reason, _ = s.server_disconnect()
    assert reason == (r.PROTOCOL_ERROR if version == 5 else None)
    assert not any(x.type == r.PUBREL for x in s.seen), s.seen
    # Counted with the other protocol errors.
    assert metric(broker5, "wharf_connections_closed_by_server_total", reason="protocol_error") == closes_before + 1
    for c in (s, p):
        c.close()


# --- 5. reason codes -----------------------------------------------------------------------------

@wharf_only  # mosquitto 2.0.11 answers 0x81 (malformed)
def test_subscribe_asking_qos_3_is_a_protocol_error(broker5, uid):
    c = r.RawClient(broker5.port, version=5)
    assert c.connect(uid)[1] == r.SUCCESS
    c.send(r.subscribe(1, (f"{uid}/t", 3), version=5))
    assert c.server_disconnect()[0] == r.PROTOCOL_ERROR
    c.close()


def test_subscribe_asking_qos_3_closes_a_3_1_1_connection(broker5, uid):
    c = r.RawClient(broker5.port)
    c.send(r.connect(uid))
    assert c.read().body == b"\x00\x00"
    c.send(r.subscribe(1, (f"{uid}/t", 3)))
    assert c.server_disconnect() == (None, None)
    c.close()


@wharf_only  # mosquitto 2.0.11 answers 0x11 (no subscription existed)
def test_unsubscribe_of_an_invalid_filter_gets_0x8f(broker5, uid):
    c = r.RawClient(broker5.port, version=5)
    assert c.connect(uid)[1] == r.SUCCESS
    assert c.subscribe(1, (f"{uid}/a", 1)) == [1]
    c.send(r.unsubscribe(2, f"{uid}/a", f"{uid}/#/b", f"{uid}/never", "$share/g", version=5))
    pid, _, codes = c.read_type(r.UNSUBACK).suback_fields()
    assert pid == 2
    assert codes == [r.SUCCESS, r.TOPIC_FILTER_INVALID, r.NO_SUBSCRIPTION_EXISTED, r.TOPIC_FILTER_INVALID]
    c.close()
