"""Malformed and forbidden input (MQTT 3.1.1 sections 1.5.3, 2.2, 2.3, 3.x,
4.7, 4.8): the server closes the network connection, sends no reply at all,
and keeps serving every other client.

One test per rule. Each case gets a fresh broker; after the bad bytes the
test checks that the offending connection was closed without any packet,
and that a new subscriber and publisher still complete a QoS 1 round trip.
"""
import pytest

import mqtt_raw as raw

P = raw.packet
S = raw.mstr
GOOD_CONNECT_BODY = S("MQTT") + b"\x04\x02\x00\x3c" + S("bad-client")


def connect_body(flags, payload, name="MQTT", level=4):
    return S(name) + bytes([level, flags]) + b"\x00\x3c" + payload


def will_connect(will_topic: bytes):
    return P(raw.CONNECT, 0, connect_body(0x06, S("w") + S(will_topic) + S("bye")))


# name -> (sent after a good CONNECT?, bytes)
CASES = {
    # -- remaining length / packet length (2.2.3, and each packet's fixed size)
    "remaining_length_with_5_bytes_before_connect": (False, b"\x10\xff\xff\xff\xff\x01"),
    "remaining_length_with_5_bytes": (True, b"\x30\xff\xff\xff\xff\x01"),
    "puback_remaining_length_1": (True, b"\x40\x01\x00"),
    "puback_remaining_length_3": (True, b"\x40\x03\x00\x01\x00"),
    "pingreq_with_a_body": (True, b"\xc0\x01\x00"),
    "disconnect_with_a_body": (True, b"\xe0\x01\x00"),
    "connect_with_trailing_bytes": (False, P(raw.CONNECT, 0, GOOD_CONNECT_BODY + b"\x00")),
    "connect_truncated": (False, P(raw.CONNECT, 0, S("MQTT") + b"\x04\x02")),
    "string_longer_than_packet": (True, P(raw.PUBLISH, 0, b"\x00\x09ab")),
    "subscribe_filter_without_qos_byte": (True, P(raw.SUBSCRIBE, 2, b"\x00\x01" + S("a"))),
    # -- reserved fixed-header flag bits (2.2.2-1/-2)
    "connect_header_flags_0001": (False, P(raw.CONNECT, 1, GOOD_CONNECT_BODY)),
    "puback_flags_0001": (True, b"\x41\x02\x00\x01"),
    "pubrec_flags_0001": (True, b"\x51\x02\x00\x01"),
    "pubrel_flags_0000": (True, b"\x60\x02\x00\x01"),
    "pubcomp_flags_0010": (True, b"\x72\x02\x00\x01"),
    "subscribe_flags_0000": (True, P(raw.SUBSCRIBE, 0, b"\x00\x01" + S("a") + b"\x00")),
    "unsubscribe_flags_0000": (True, P(raw.UNSUBSCRIBE, 0, b"\x00\x01" + S("a"))),
    "pingreq_flags_0001": (True, b"\xc1\x00"),
    "disconnect_flags_0010": (True, b"\xe2\x00"),
    "publish_qos_3": (True, P(raw.PUBLISH, 0x06, S("a") + b"\x00\x01x")),
    # -- reserved bits inside packets (3.1.2-3, 3.1.2-13/-14/-15, 3.1.2-22, 3.8.3-4)
    "connect_reserved_flag_bit": (False, P(raw.CONNECT, 0, connect_body(0x03, S("x")))),
    "connect_will_qos_3": (False, P(raw.CONNECT, 0, connect_body(0x1E, S("x") + S("w/t") + S("m")))),
    "connect_will_qos_without_will_flag": (False, P(raw.CONNECT, 0, connect_body(0x0A, S("x")))),
    "connect_will_retain_without_will_flag": (False, P(raw.CONNECT, 0, connect_body(0x22, S("x")))),
    "connect_password_without_user_name": (False, P(raw.CONNECT, 0, connect_body(0x42, S("x") + S("pw")))),
    "subscribe_requested_qos_3": (True, P(raw.SUBSCRIBE, 2, b"\x00\x01" + S("a") + b"\x03")),
    "subscribe_reserved_option_bits": (True, P(raw.SUBSCRIBE, 2, b"\x00\x01" + S("a") + b"\x04")),
    # -- invalid UTF-8 and U+0000 (1.5.3-1, 1.5.3-2)
    "topic_invalid_utf8": (True, P(raw.PUBLISH, 0, S(b"\xc3\x28"))),
    "topic_overlong_encoding_of_nul": (True, P(raw.PUBLISH, 0, S(b"a\xc0\x80"))),
    "topic_utf16_surrogate": (True, P(raw.PUBLISH, 0, S(b"a\xed\xa0\x80"))),
    "topic_code_point_above_10ffff": (True, P(raw.PUBLISH, 0, S(b"a\xf4\x90\x80\x80"))),
    "topic_truncated_multibyte": (True, P(raw.PUBLISH, 0, S(b"a\xe2\x82"))),
    "topic_contains_u0000": (True, P(raw.PUBLISH, 0, S(b"a\x00b"))),
    "client_id_invalid_utf8": (False, P(raw.CONNECT, 0, connect_body(0x02, S(b"id\xff")))),
    "client_id_contains_u0000": (False, P(raw.CONNECT, 0, connect_body(0x02, S(b"id\x00x")))),
    "user_name_invalid_utf8": (False, P(raw.CONNECT, 0, connect_body(0x82, S("x") + S(b"\xfe\xfe")))),
    "will_topic_invalid_utf8": (False, will_connect(b"w/\xc3")),
    "will_topic_contains_u0000": (False, will_connect(b"w/\x00")),
    "subscribe_filter_invalid_utf8": (True, P(raw.SUBSCRIBE, 2, b"\x00\x01" + S(b"a/\xff") + b"\x00")),
    "subscribe_filter_contains_u0000": (True, P(raw.SUBSCRIBE, 2, b"\x00\x01" + S(b"a/\x00") + b"\x00")),
    "unsubscribe_filter_invalid_utf8": (True, P(raw.UNSUBSCRIBE, 2, b"\x00\x01" + S(b"\xc0\xaf"))),
    # -- topic names (3.3.2-1, 3.3.2-2, 4.7.3-1)
    "publish_topic_with_plus": (True, raw.publish("a/+/b", b"x")),
    "publish_topic_with_hash": (True, raw.publish("a/#", b"x", qos=1, pid=1)),
    "publish_topic_is_plus": (True, raw.publish("+", b"x")),
    "publish_topic_empty": (True, raw.publish("", b"x")),
    "will_topic_with_wildcard": (False, will_connect(b"status/+")),
    # -- packet identifiers (2.3.1-1) and empty lists (3.8.3-3, 3.10.3-2)
    "publish_qos1_packet_id_0": (True, raw.publish("a", b"x", qos=1, pid=0)),
    "subscribe_packet_id_0": (True, raw.subscribe(0, ("a", 0))),
    "unsubscribe_packet_id_0": (True, raw.unsubscribe(0, "a")),
    "subscribe_without_filters": (True, P(raw.SUBSCRIBE, 2, b"\x00\x01")),
    "unsubscribe_without_filters": (True, P(raw.UNSUBSCRIBE, 2, b"\x00\x01")),
    # -- packet order (3.1.0-1, 3.1.0-2)
    "first_packet_pingreq": (False, raw.PINGREQ_BYTES),
    "first_packet_publish": (False, raw.publish("a", b"x")),
    "first_packet_subscribe": (False, raw.subscribe(1, ("a", 0))),
    "second_connect": (True, raw.connect("again")),
    "second_connect_same_id": (True, raw.connect("bad-client")),
    # -- reserved packet types (2.2.1)
    "reserved_type_0": (True, b"\x00\x00"),
    "reserved_type_15": (True, b"\xf0\x00"),
    "reserved_type_0_before_connect": (False, b"\x00\x00"),
    "reserved_type_15_before_connect": (False, b"\xf0\x00"),
    # -- packets only a server may send
    "client_sends_connack": (True, b"\x20\x02\x00\x00"),
    "client_sends_suback": (True, b"\x90\x03\x00\x01\x00"),
    "client_sends_unsuback": (True, b"\xb0\x02\x00\x01"),
    "client_sends_pingresp": (True, b"\xd0\x00"),
    "client_sends_connack_first": (False, b"\x20\x02\x00\x00"),
    # -- protocol name (3.1.2-1)
    "connect_protocol_name_mqtx": (False, P(raw.CONNECT, 0, connect_body(0x02, S("x"), name="MQTX"))),
}


def assert_still_serving(broker, uid):
    """A new subscriber and publisher complete a QoS 1 round trip."""
    sub = raw.RawClient(broker.port)
    assert sub.connect(f"{uid}-after-sub").connack() == (False, 0)
    assert sub.subscribe(1, (f"{uid}/ok", 1)) == [1]
    pub = raw.RawClient(broker.port)
    assert pub.connect(f"{uid}-after-pub").connack() == (False, 0)
    pub.publish_qos1(f"{uid}/ok", b"still here", pid=1)
    p = sub.expect(raw.PUBLISH)
    assert (p.topic, p.payload) == (f"{uid}/ok", b"still here")


@pytest.mark.parametrize("name", list(CASES))
def test_malformed_input_closes_the_connection_without_reply(broker, uid, name):
    b = broker()
    needs_connect, data = CASES[name]
    c = raw.RawClient(b.port)
    if needs_connect:
        assert c.connect("bad-client").connack() == (False, 0)
    c.send(data)
    replies = c.wait_closed(timeout=5)
    assert replies == [], f"4.8: the server closes the connection; it sent {replies}"
    assert_still_serving(b, uid)


def test_packet_over_max_packet_size_is_refused(broker, uid):
    b = broker("[limits]\nmax_packet_size = 1024\n")
    c = raw.RawClient(b.port)
    c.connect("big")
    c.send(raw.publish("big", b"x" * 2000, qos=1, pid=1))
    assert c.wait_closed() == []
    assert_still_serving(b, uid)


def test_oversize_length_is_refused_before_the_body_arrives(broker, uid):
    """A header announcing 100 MB and then nothing: refused on the length
    alone, without waiting for (or buffering) the body."""
    b = broker("[limits]\nmax_packet_size = 1024\n")
    c = raw.RawClient(b.port)
    c.connect("huge")
    c.send(b"\x30" + raw.varint(100_000_000))
    assert c.wait_closed(timeout=3) == []
    assert_still_serving(b, uid)


def test_oversize_connect_is_refused(broker, uid):
    b = broker("[limits]\nmax_packet_size = 256\n")
    c = raw.RawClient(b.port)
    c.send(raw.connect("x" * 400))
    assert c.wait_closed() == []
    assert_still_serving(b, uid)


def test_half_a_packet_then_close_does_not_disturb_the_broker(broker, uid):
    b = broker()
    for data in (raw.connect("half")[:5], b"\x30", b"\x30\x80"):
        c = raw.RawClient(b.port)
        c.send(data)
        c.close()
    c = raw.RawClient(b.port)
    c.connect("half-2")
    c.send(raw.publish("a/b", b"x" * 100, qos=1, pid=3)[:20])
    c.close()
    assert_still_serving(b, uid)


def test_a_stream_of_bad_clients_does_not_disturb_a_good_one(broker, uid):
    b = broker()
    sub = raw.RawClient(b.port)
    sub.connect(f"{uid}-good-sub")
    sub.subscribe(1, (f"{uid}/t", 1))
    for i, (needs_connect, data) in enumerate(list(CASES.values())):
        bad = raw.RawClient(b.port)
        if needs_connect:
            bad.connect(f"{uid}-bad{i}")
        bad.send(data)
        assert bad.wait_closed() == []
    sub.ping()
    pub = raw.RawClient(b.port)
    pub.connect(f"{uid}-good-pub")
    pub.publish_qos1(f"{uid}/t", b"fine", pid=1)
    assert sub.expect(raw.PUBLISH).payload == b"fine"


@pytest.mark.parametrize("shape", ["empty_levels", "plus_levels"])
def test_deepest_possible_topics_do_not_crash_the_broker(broker, uid, shape):
    """Topic names and filters may be up to 65535 bytes (1.5.3), so up to
    65536 levels. Whether the broker delivers such a message or refuses it
    (SUBACK 0x80, closing the connection), it must keep running and serving
    others."""
    if shape == "empty_levels":
        flt, topic = "/" * 65535, "/" * 65535
    else:
        flt, topic = "/".join(["+"] * 32768), "/".join(["a"] * 32768)
    b = broker()
    sub = raw.RawClient(b.port)
    sub.connect(f"{uid}-deep-sub")
    sub.send(raw.subscribe(1, (flt, 0)))
    sub.read_all(quiet=0.3)
    pub = raw.RawClient(b.port)
    pub.connect(f"{uid}-deep-pub")
    pub.send(raw.publish(topic, b"deep", qos=1, pid=1))
    pub.read_all(quiet=0.5)
    assert b.alive(), f"wharf died (exit {b.proc.returncode})\n{b.log_tail()}"
    assert_still_serving(b, uid)


def test_garbage_bytes_are_refused(broker, uid):
    b = broker()
    http = (b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: curl/8.0\r\n"
            b"Accept: */*\r\nConnection: close\r\n\r\n")  # longer than the 69 bytes 'E' announces
    junk_inputs = (http, bytes(range(256)),
                   b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # HTTP, noise, a TLS hello
    for junk in junk_inputs:
        c = raw.RawClient(b.port)
        try:
            c.send(junk)
        except OSError:
            pass
        assert c.wait_closed() == []
    assert_still_serving(b, uid)
