"""Malformed and protocol-violating MQTT 5.0 input (sections 2.2.2.2, 4.13):
the broker answers with a DISCONNECT naming the reason (0x81 Malformed
Packet, 0x82 Protocol Error), closes, and keeps serving everyone else.

WHARF_E2E_REFERENCE=mosquitto runs the cases not marked wharf_only against
mosquitto, to prove the tests themselves right."""
import socket

import pytest

import rawmqtt as r
from mqtt5clients import broker5, paho5, wharf_only  # noqa: F401 (fixtures)

M, P = r.MALFORMED, r.PROTOCOL_ERROR


def _publish_with_raw_props(prop_bytes: bytes, topic="t") -> bytes:
    """A QoS 0 PUBLISH whose property block is given as raw bytes (length included)."""
    return r.packet(r.PUBLISH, 0, r.mstr(topic) + prop_bytes + b"payload")


CASES = {
    # name: (bytes sent after a good CONNECT, expected DISCONNECT reason)
    "payload_format_indicator_twice": (
        r.publish("t", b"x", props=[(r.PAYLOAD_FORMAT, 0), (r.PAYLOAD_FORMAT, 1)], version=5), P),
    "content_type_twice": (r.publish("t", b"x", props=[(r.CONTENT_TYPE, "a"), (r.CONTENT_TYPE, "b")], version=5), P),
    "session_expiry_in_publish": (r.publish("t", b"x", props=[(r.SESSION_EXPIRY, 10)], version=5), M),
    "receive_maximum_in_subscribe": (
        r.subscribe(1, ("t", 1), props=[(r.RECEIVE_MAXIMUM, 5)], version=5), M),
    "unknown_property_identifier": (_publish_with_raw_props(b"\x02\x7f\x00"), M),
    "property_length_past_the_packet": (_publish_with_raw_props(b"\x20\x01\x01"), M),
    "property_value_cut_short": (_publish_with_raw_props(b"\x03\x02\x00\x00"), M),
    "content_type_invalid_utf8": (_publish_with_raw_props(b"\x05\x03\x00\x02\xc3\x28"), M),
    "user_property_invalid_utf8": (_publish_with_raw_props(b"\x08\x26\x00\x01k\x00\x02\xc0\x80"), M),
    "subscription_identifier_zero": (r.subscribe(1, ("t", 1), props=[(r.SUBSCRIPTION_ID, 0)], version=5), P),
    "retain_handling_3": (r.subscribe(1, ("t", 1 | 0x30), version=5), P),
    "subscribe_reserved_option_bits": (r.subscribe(1, ("t", 1 | 0x40), version=5), M),
    "publish_qos_3": (r.packet(r.PUBLISH, 0x06, r.mstr("t") + b"\x00\x01\x00x"), M),
    "second_connect": (r.connect("again", version=5), P),
    "auth_without_method_in_connect": (r.auth(0x18, [(r.AUTH_DATA, b"x")]), P),
    "topic_alias_above_maximum": (r.publish("t", b"x", props=[(r.TOPIC_ALIAS, 11)], version=5), r.TOPIC_ALIAS_INVALID),
    "unknown_topic_alias": (r.publish("", b"x", props=[(r.TOPIC_ALIAS, 1)], version=5), P),
}

# Where mosquitto 2.0.11 differs, and why (the case still runs against Wharf).
REFERENCE_DIFFERS = {
    "payload_format_indicator_twice": "mosquitto closes without a DISCONNECT",
    "content_type_twice": "mosquitto closes without a DISCONNECT",
    "auth_without_method_in_connect": "mosquitto closes without a DISCONNECT",
    "content_type_invalid_utf8": "mosquitto closes without a DISCONNECT",
    "user_property_invalid_utf8": "mosquitto closes without a DISCONNECT",
    "second_connect": "mosquitto closes without a DISCONNECT",
    "retain_handling_3": "mosquitto says 0x81; 3.8.3.1 calls it a Protocol Error",
    "subscription_identifier_zero": "mosquitto says 0x81; 3.8.2.1.2 calls it a Protocol Error",
}


def _params():
    for name in sorted(CASES):
        marks = [wharf_only] if name in REFERENCE_DIFFERS else []
        yield pytest.param(name, marks=marks, id=name)


@pytest.mark.parametrize("name", list(_params()))
def test_bad_input_gets_a_disconnect_with_its_reason_and_the_broker_carries_on(broker5, uid, name):
    data, expected = CASES[name]
    c = r.RawClient(broker5.port, version=5)
    assert c.connect(f"{uid}-{name}"[:60])[1] == 0
    c.send(data)
    reason, _ = c.server_disconnect()
    assert reason == expected, f"DISCONNECT reason {reason!r}, expected {expected:#x}"
    assert not any(p.type == r.PUBLISH for p in c.seen)
    # The broker is unharmed: a new client still round-trips a message.
    sub = paho5(broker5.port, f"{uid}-after")
    sub.subscribe(f"{uid}/ok", 1)
    paho5(broker5.port, f"{uid}-pub").publish(f"{uid}/ok", b"still here", qos=1)
    assert sub.get().payload == b"still here"
    sub.disconnect()


def test_repeated_user_properties_and_subscription_ids_are_not_errors(broker5, uid):
    """The two properties allowed more than once (User Property in any packet,
    Subscription Identifier in a PUBLISH to a client) do not trip the check."""
    sub = r.RawClient(broker5.port, version=5)
    sub.connect(f"{uid}-s", props=[(r.USER_PROPERTY, ("a", "1")), (r.USER_PROPERTY, ("a", "1"))])
    assert sub.subscribe(1, (f"{uid}/u/#", 1), props=[(r.SUBSCRIPTION_ID, 1), (r.USER_PROPERTY, ("x", "y")),
                                                      (r.USER_PROPERTY, ("x", "y"))]) == [1]
    assert sub.subscribe(2, (f"{uid}/u/+", 1), props=[(r.SUBSCRIPTION_ID, 2)]) == [1]
    pub = r.RawClient(broker5.port, version=5)
    pub.connect(f"{uid}-p")
    assert pub.publish_acked(f"{uid}/u/v", b"x", 1, 1, props=[(r.USER_PROPERTY, ("k", "v"))] * 3)[0] == 0
    ids, user = [], None
    try:
        while True:
            _, _, p, payload, _ = sub.message(timeout=1.0)
            ids += p.all(r.SUBSCRIPTION_ID)
            user = p.user
    except (socket.timeout, TimeoutError):
        pass
    assert sorted(ids) == [1, 2]
    assert user == [("k", "v")] * 3
    sub.send(r.PINGREQ_BYTES)
    assert sub.read().type == r.PINGRESP, "still connected"
    sub.close()
    pub.close()


def test_malformed_connect_properties_close_the_connection(broker5, uid):
    """A CONNECT with a property twice: refused (CONNACK >= 0x80, if any) and closed."""
    c = r.RawClient(broker5.port, version=5)
    c.send(r.connect(f"{uid}-bad", props=[(r.SESSION_EXPIRY, 1), (r.SESSION_EXPIRY, 2)], version=5))
    c.server_disconnect()  # fails if still open
    connacks = [p for p in c.seen if p.type == r.CONNACK]
    assert all(p.connack()[1] >= 0x80 for p in connacks), connacks
    assert not any(p.type != r.CONNACK for p in c.seen)
