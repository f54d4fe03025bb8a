"""Malformed input (3.1.1 section 4.8): the connection is closed without a
reply, the broker logs why and keeps serving everyone else."""
import pytest

import rawmqtt as raw
from mqttclients import paho

CONNECTED = "connected"  # cases sent after a good CONNECT

CASES = {
    # name: (needs CONNECT first, bytes)
    "remaining_length_5_bytes": (False, bytes([0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])),
    "reserved_type_0": (True, bytes([0x00, 0x00])),
    "reserved_type_15": (True, bytes([0xF0, 0x00])),
    "puback_flags_not_zero": (True, bytes([0x41, 0x02, 0x00, 0x01])),
    "subscribe_flags_not_0010": (True, bytes([0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 0x61, 0x00])),
    "publish_qos_3": (True, bytes([0x36, 0x05, 0x00, 0x01, 0x61, 0x00, 0x01])),
    "invalid_utf8_topic": (True, raw.packet(raw.PUBLISH, 0, b"\x00\x02\xc3\x28")),
    "overlong_utf8_nul": (True, raw.packet(raw.PUBLISH, 0, b"\x00\x02\xc0\x80")),
    "nul_in_topic": (True, raw.packet(raw.PUBLISH, 0, b"\x00\x03a\x00b")),
    "wildcard_in_publish_topic": (True, raw.publish("a/+/b", b"x")),
    "hash_in_publish_topic": (True, raw.publish("a/#", b"x")),
    "first_packet_not_connect": (False, raw.PINGREQ_BYTES),
    "second_connect": (True, raw.connect("again")),
    "client_sends_connack": (True, bytes([0x20, 0x02, 0x00, 0x00])),
    "client_sends_suback": (True, bytes([0x90, 0x03, 0x00, 0x01, 0x00])),
    "subscribe_without_filters": (True, bytes([0x82, 0x02, 0x00, 0x01])),
    "subscribe_reserved_option_bits": (True, raw.packet(raw.SUBSCRIBE, 2, b"\x00\x01" + raw.mstr("a") + b"\x04")),
    "packet_id_zero": (True, raw.publish("a", b"x", qos=1, pid=0)),
    "string_longer_than_packet": (True, raw.packet(raw.PUBLISH, 0, b"\x00\x09ab")),
    "connect_reserved_flag": (False, raw.packet(raw.CONNECT, 0, raw.mstr("MQTT") + b"\x04\x03\x00\x3c" + raw.mstr("x"))),
    "connect_bad_protocol_name": (False, raw.packet(raw.CONNECT, 0, raw.mstr("MQTX") + b"\x04\x02\x00\x3c" + raw.mstr("x"))),
    "oversize_packet": (True, raw.publish("big", b"x" * 2000)),
}


@pytest.fixture
def small_broker(broker_factory):
    return broker_factory("[limits]\nmax_packet_size = 1024\n")


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_packet_closes_connection_without_reply(small_broker, uid, name):
    needs_connect, data = CASES[name]
    c = raw.RawClient(small_broker.port)
    if needs_connect:
        c.connect(f"{uid}-{name}"[:60])
    c.send(data)
    replies = []
    try:
        while True:
            replies.append(c.read(timeout=5))
    except ConnectionResetError:
        pass
    assert replies == [], f"the spec answers malformed input by closing, not with {replies}"
    # The broker is unharmed: a new client still round-trips a message.
    sub = paho(small_broker.port, f"{uid}-after")
    sub.subscribe(f"{uid}/ok", 1)
    paho(small_broker.port, f"{uid}-pub").publish(f"{uid}/ok", b"still here", qos=1)
    assert sub.get().payload == b"still here"
    assert "closing connection" in small_broker.log()


def test_oversize_packet_refused_before_body_arrives(small_broker, uid):
    c = raw.RawClient(small_broker.port)
    c.connect(f"{uid}-big")
    # Header announcing 100 MB, then nothing: refused on the length alone.
    c.send(bytes([0x30]) + raw.varint(100_000_000))
    assert c.closed_by_broker(timeout=3)


def test_malformed_publisher_does_not_disturb_other_connections(broker, uid):
    sub = paho(broker.port, f"{uid}-sub")
    sub.subscribe(f"{uid}/t", 1)
    for i in range(20):
        bad = raw.RawClient(broker.port)
        bad.connect(f"{uid}-bad{i}")
        bad.send(raw.publish("x/#", b"bad"))
        assert bad.closed_by_broker()
    paho(broker.port, f"{uid}-pub").publish(f"{uid}/t", b"fine", qos=1)
    assert sub.get().payload == b"fine"
