"""MQTT 5.0 PUBLISH (section 3.3): properties forwarded, message expiry,
PUBACK/PUBREC/UNSUBACK reason codes, topic aliases in both directions, QoS 2
exactly once, and mosquitto_pub/mosquitto_sub in v5 mode.

WHARF_E2E_REFERENCE=mosquitto runs the tests not marked wharf_only against
mosquitto, to prove the tests themselves right."""
import time

import pytest
from paho.mqtt.packettypes import PacketTypes

import rawmqtt as r
from mqtt5clients import (broker5, broker5_factory, mosquitto_pub5, mosquitto_sub5,  # noqa: F401 (fixtures)
                          paho5, props, snapshot, wharf_only)
from mqttclients import paho

USER = [("trace", "1"), ("zeta", "last?"), ("alpha", "no, first"), ("trace", "2")]


def test_publish_properties_reach_v5_subscribers_unchanged(broker5, uid):
    sub = paho5(broker5.port, f"{uid}-s")
    sub.subscribe(f"{uid}/req", 1)
    pub = paho5(broker5.port, f"{uid}-p")
    sent = props(PacketTypes.PUBLISH, UserProperty=USER, PayloadFormatIndicator=1, ContentType="text/plain; v=2",
                 ResponseTopic=f"{uid}/reply", CorrelationData=b"\x00\xffid-42")
    assert pub.publish(f"{uid}/req", "héllo".encode(), qos=1, properties=sent) == 0
    m = sub.get()
    assert m.payload == "héllo".encode()
    p = m.properties
    assert p.UserProperty == USER, "user properties in order, repeated keys kept"
    assert p.PayloadFormatIndicator == 1
    assert p.ContentType == "text/plain; v=2"
    assert p.ResponseTopic == f"{uid}/reply"
    assert p.CorrelationData == b"\x00\xffid-42"
    sub.disconnect()
    pub.disconnect()


def test_request_response_round_trip(broker5, uid):
    """A responder answers on the Response Topic with the Correlation Data: the requester matches it."""
    responder = paho5(broker5.port, f"{uid}-responder")
    responder.subscribe(f"{uid}/service", 1)
    requester = paho5(broker5.port, f"{uid}-requester")
    requester.subscribe(f"{uid}/inbox", 1)
    requester.publish(f"{uid}/service", b"2+2", qos=1, properties=props(
        PacketTypes.PUBLISH, ResponseTopic=f"{uid}/inbox", CorrelationData=b"req-1"))
    req = responder.get()
    responder.publish(req.properties.ResponseTopic, b"4", qos=1, properties=props(
        PacketTypes.PUBLISH, CorrelationData=req.properties.CorrelationData))
    answer = requester.get()
    assert (answer.topic, answer.payload, answer.properties.CorrelationData) == (f"{uid}/inbox", b"4", b"req-1")
    responder.disconnect()
    requester.disconnect()


def test_v311_subscriber_gets_the_payload_of_a_v5_publish(broker5, uid):
    old = paho(broker5.port, f"{uid}-old")
    old.subscribe(f"{uid}/x", 1)
    pub = paho5(broker5.port, f"{uid}-p")
    pub.publish(f"{uid}/x", b"payload", qos=1, properties=props(
        PacketTypes.PUBLISH, UserProperty=USER, ContentType="a/b", MessageExpiryInterval=60))
    m = old.get()
    assert (m.topic, m.payload, m.qos) == (f"{uid}/x", b"payload", 1)
    old.disconnect()
    pub.disconnect()


def test_raw_bytes_of_forwarded_properties(broker5, uid):
    """On the wire: every property the publisher set, user properties in order."""
    sub = r.RawClient(broker5.port, version=5)
    sub.connect(f"{uid}-raw")
    assert sub.subscribe(1, (f"{uid}/wire", 1)) == [1]
    pub = r.RawClient(broker5.port, version=5)
    pub.connect(f"{uid}-pub")
    sent = [(r.USER_PROPERTY, ("k1", "v1")), (r.CONTENT_TYPE, "ct"), (r.USER_PROPERTY, ("k0", "v0")),
            (r.PAYLOAD_FORMAT, 0), (r.CORRELATION_DATA, b"\x01"), (r.RESPONSE_TOPIC, "rt")]
    assert pub.publish_acked(f"{uid}/wire", b"bytes", 1, 10, props=sent)[0] == 0
    topic, pid, got, payload, _ = sub.message()
    assert (topic, payload) == (f"{uid}/wire", b"bytes")
    assert got.user == [("k1", "v1"), ("k0", "v0")]
    for ident, value in sent:
        if ident != r.USER_PROPERTY:
            assert got.get(ident) == value, f"property {ident:#x}"
    sub.close()
    pub.close()


# --- Message Expiry Interval (3.3.2.3.3) --------------------------------------------------------

def test_messages_expiring_while_queued_are_never_delivered_and_are_counted(broker5, uid):
    worker = paho5(broker5.port, f"{uid}-w", clean_start=False, session_expiry=60)
    worker.subscribe(f"{uid}/jobs", 1)
    worker.disconnect()
    pub = paho5(broker5.port, f"{uid}-p")
    short = props(PacketTypes.PUBLISH, MessageExpiryInterval=1)
    for i in range(3):
        pub.publish(f"{uid}/jobs", f"short-{i}".encode(), qos=1, properties=short)
    pub.publish(f"{uid}/jobs", b"long", qos=1, properties=props(PacketTypes.PUBLISH, MessageExpiryInterval=60))
    pub.publish(f"{uid}/jobs", b"no expiry", qos=1)
    time.sleep(2.2)  # past the 1 s interval while the worker is away
    back = paho5(broker5.port, f"{uid}-w", clean_start=False, session_expiry=60)
    assert back.session_present
    got = back.get_all(5, timeout=2)
    assert [m.payload for m in got] == [b"long", b"no expiry"]
    remaining = got[0].properties.MessageExpiryInterval
    assert 55 <= remaining <= 58, f"60 s minus the ~2 s it waited, got {remaining}"
    assert not hasattr(got[1].properties, "MessageExpiryInterval"), "no interval is invented"
    if (snap := snapshot(broker5)) is not None:
        assert snap["messages"]["droppedTotal"]["expired"] == 3
    back.disconnect()
    pub.disconnect()


def test_live_delivery_carries_at_most_the_original_expiry(broker5, uid):
    sub = paho5(broker5.port, f"{uid}-s")
    sub.subscribe(f"{uid}/e", 1)
    pub = paho5(broker5.port, f"{uid}-p")
    pub.publish(f"{uid}/e", b"x", qos=1, properties=props(PacketTypes.PUBLISH, MessageExpiryInterval=30))
    assert 29 <= sub.get().properties.MessageExpiryInterval <= 30
    sub.disconnect()
    pub.disconnect()


def test_retained_message_expires(broker5, uid):
    pub = paho5(broker5.port, f"{uid}-p")
    pub.publish(f"{uid}/status", b"fleeting", qos=1, retain=True,
                properties=props(PacketTypes.PUBLISH, MessageExpiryInterval=1))
    pub.publish(f"{uid}/status2", b"lasting", qos=1, retain=True)
    early = paho5(broker5.port, f"{uid}-early")
    early.subscribe(f"{uid}/status", 1)
    m = early.get()
    assert (m.payload, m.retain) == (b"fleeting", True)
    assert m.properties.MessageExpiryInterval <= 1
    time.sleep(2.2)
    late = paho5(broker5.port, f"{uid}-late")
    late.subscribe(f"{uid}/status", 1)
    late.nothing_for(0.5)
    late.subscribe(f"{uid}/status2", 1)
    assert late.get().payload == b"lasting", "only the expired one is gone"
    for c in (pub, early, late):
        c.disconnect()


# --- Acknowledgement reason codes ---------------------------------------------------------------

# mosquitto answers PUBREC 0x00 when nobody subscribes (0x10 is a MAY in 3.5.2.1): QoS 2 is Wharf-only.
@pytest.mark.parametrize("qos", [1, pytest.param(2, marks=wharf_only)])
def test_puback_pubrec_say_success_or_no_matching_subscribers(broker5, uid, qos):
    pub = r.RawClient(broker5.port, version=5)
    pub.connect(f"{uid}-p")
    assert pub.publish_acked(f"{uid}/nobody", b"x", qos, 1)[0] == r.NO_MATCHING_SUBSCRIBERS
    sub = paho5(broker5.port, f"{uid}-s")
    sub.subscribe(f"{uid}/somebody", 2)
    assert pub.publish_acked(f"{uid}/somebody", b"x", qos, 2)[0] == r.SUCCESS
    assert sub.get().payload == b"x"
    pub.close()
    sub.disconnect()


def test_paho_publisher_sees_no_matching_subscribers(broker5, uid):
    pub = paho5(broker5.port, f"{uid}-p")
    assert pub.publish(f"{uid}/void", b"x", qos=1) == r.NO_MATCHING_SUBSCRIBERS
    pub.disconnect()


@wharf_only  # a Wharf delivery policy
@pytest.mark.parametrize("qos", [1, 2])
def test_quota_exceeded_0x97_when_a_policy_rejects_new_messages(broker5_factory, uid, qos):
    b = broker5_factory('[[policy]]\npattern = "capped/#"\nmax_length = 3\noverflow = "reject-new"\n')
    worker = paho5(b.port, f"{uid}-w", clean_start=False, session_expiry=60)
    worker.subscribe("capped/#", 1)
    worker.disconnect()
    pub = r.RawClient(b.port, version=5)
    pub.connect(f"{uid}-p")
    codes = [pub.publish_acked("capped/x", str(i).encode(), qos, i + 1)[0] for i in range(5)]
    assert codes == [0, 0, 0, r.QUOTA_EXCEEDED, r.QUOTA_EXCEEDED]
    back = paho5(b.port, f"{uid}-w", clean_start=False, session_expiry=60)
    assert [m.payload for m in back.get_all(5, timeout=2)] == [b"0", b"1", b"2"]
    back.disconnect()
    pub.close()


def test_unsuback_success_or_no_subscription_existed(broker5, uid):
    c = paho5(broker5.port, f"{uid}-u")
    c.subscribe(f"{uid}/a", 1)
    assert c.unsubscribe(f"{uid}/a", f"{uid}/never") == [r.SUCCESS, r.NO_SUBSCRIPTION_EXISTED]
    pub = paho5(broker5.port, f"{uid}-p")
    assert pub.publish(f"{uid}/a", b"x", qos=1) == r.NO_MATCHING_SUBSCRIBERS
    c.nothing_for(0.3)
    c.disconnect()
    pub.disconnect()


@wharf_only  # Wharf's reason strings; mosquitto sends none anyway, so the test would prove nothing there
def test_request_problem_information_zero_suppresses_reason_strings(broker5_factory, uid):
    b = broker5_factory('[[policy]]\npattern = "capped/#"\nmax_length = 1\noverflow = "reject-new"\n')
    worker = paho5(b.port, f"{uid}-w", clean_start=False, session_expiry=60)
    worker.subscribe("capped/#", 1)
    worker.disconnect()

    def failures(client_id, connect_props):
        c = r.RawClient(b.port, version=5)
        c.connect(client_id, props=connect_props)
        c.send(r.subscribe(1, ("a/#/b", 1), version=5))
        suback = c.read_type(r.SUBACK)
        c.publish_acked("capped/x", b"fills the queue", 1, 2)
        c.send(r.publish("capped/x", b"refused", qos=1, pid=3, version=5))
        puback = c.read_type(r.PUBACK)
        c.close()
        return suback, puback

    suback, puback = failures(f"{uid}-chatty", [])
    assert suback.suback_fields()[2] == [r.TOPIC_FILTER_INVALID]
    assert puback.ack_fields()[1] == r.QUOTA_EXCEEDED
    assert suback.suback_fields()[1].get(r.REASON_STRING), "a reason string on the failed SUBACK by default"
    assert puback.ack_fields()[2].get(r.REASON_STRING), "a reason string on the failed PUBACK by default"
    suback, puback = failures(f"{uid}-quiet", [(r.REQUEST_PROBLEM_INFO, 0)])
    assert suback.suback_fields()[2] == [r.TOPIC_FILTER_INVALID]
    assert puback.ack_fields()[1] == r.QUOTA_EXCEEDED
    for props_ in (suback.suback_fields()[1], puback.ack_fields()[2]):
        assert r.REASON_STRING not in props_.ids() and not props_.user, f"MQTT-3.1.2-29: {props_}"


# --- Topic aliases (3.3.2.3.4) ------------------------------------------------------------------

def test_client_topic_alias_set_then_used_with_empty_topic(broker5, uid):
    sub = paho5(broker5.port, f"{uid}-s")
    sub.subscribe(f"{uid}/alias/#", 1)
    pub = r.RawClient(broker5.port, version=5)
    assert pub.connect(f"{uid}-p")[2].get(r.TOPIC_ALIAS_MAXIMUM, 0) >= 2
    pub.publish_acked(f"{uid}/alias/long/topic/name", b"first", 1, 1, props=[(r.TOPIC_ALIAS, 1)])
    pub.publish_acked("", b"second", 1, 2, props=[(r.TOPIC_ALIAS, 1)])
    pub.publish_acked(f"{uid}/alias/other", b"third", 1, 3, props=[(r.TOPIC_ALIAS, 2)])
    pub.publish_acked("", b"fourth", 1, 4, props=[(r.TOPIC_ALIAS, 1)])
    pub.publish_acked(f"{uid}/alias/remapped", b"fifth", 1, 5, props=[(r.TOPIC_ALIAS, 1)])
    pub.publish_acked("", b"sixth", 1, 6, props=[(r.TOPIC_ALIAS, 1)])
    got = [(m.topic, m.payload) for m in sub.get_all(6)]
    assert got == [
        (f"{uid}/alias/long/topic/name", b"first"), (f"{uid}/alias/long/topic/name", b"second"),
        (f"{uid}/alias/other", b"third"), (f"{uid}/alias/long/topic/name", b"fourth"),
        (f"{uid}/alias/remapped", b"fifth"), (f"{uid}/alias/remapped", b"sixth"),
    ]
    sub.disconnect()
    pub.close()


def test_paho_publisher_uses_a_topic_alias(broker5, uid):
    sub = paho5(broker5.port, f"{uid}-s")
    sub.subscribe(f"{uid}/pa", 1)
    pub = paho5(broker5.port, f"{uid}-p")
    pub.publish(f"{uid}/pa", b"1", qos=1, properties=props(PacketTypes.PUBLISH, TopicAlias=3))
    pub.publish("", b"2", qos=1, properties=props(PacketTypes.PUBLISH, TopicAlias=3))
    assert [(m.topic, m.payload) for m in sub.get_all(2)] == [(f"{uid}/pa", b"1"), (f"{uid}/pa", b"2")]
    sub.disconnect()
    pub.disconnect()


def test_topic_alias_above_the_maximum_disconnects_with_0x94(broker5_factory, uid):
    b = broker5_factory("[limits]\ntopic_alias_maximum = 3\n", mosquitto="max_topic_alias 3")
    c = r.RawClient(b.port, version=5)
    assert c.connect(f"{uid}-a")[2].get(r.TOPIC_ALIAS_MAXIMUM) == 3
    c.publish_acked(f"{uid}/ok", b"x", 1, 1, props=[(r.TOPIC_ALIAS, 3)])
    c.send(r.publish(f"{uid}/bad", b"x", qos=1, pid=2, props=[(r.TOPIC_ALIAS, 4)], version=5))
    assert c.server_disconnect()[0] == r.TOPIC_ALIAS_INVALID


@wharf_only  # mosquitto treats alias 0 as malformed (0x81); the spec forbids it without naming a code
def test_topic_alias_zero_disconnects_with_0x94(broker5, uid):
    c = r.RawClient(broker5.port, version=5)
    c.connect(f"{uid}-z")
    c.send(r.publish(f"{uid}/z", b"x", props=[(r.TOPIC_ALIAS, 0)], version=5))
    assert c.server_disconnect()[0] == r.TOPIC_ALIAS_INVALID


def test_empty_topic_with_an_unknown_alias_is_a_protocol_error(broker5, uid):
    c = r.RawClient(broker5.port, version=5)
    c.connect(f"{uid}-u")
    c.send(r.publish("", b"x", qos=1, pid=1, props=[(r.TOPIC_ALIAS, 2)], version=5))
    assert c.server_disconnect()[0] == r.PROTOCOL_ERROR


def test_empty_topic_without_alias_is_a_protocol_error(broker5, uid):
    c = r.RawClient(broker5.port, version=5)
    c.connect(f"{uid}-e")
    c.send(r.publish("", b"x", qos=1, pid=1, version=5))
    assert c.server_disconnect()[0] == r.PROTOCOL_ERROR


def test_aliases_do_not_outlive_the_connection(broker5, uid):
    """3.3.2.3.4: alias mappings belong to one network connection."""
    c = r.RawClient(broker5.port, version=5)
    c.connect(f"{uid}-c")
    c.publish_acked(f"{uid}/t", b"x", 1, 1, props=[(r.TOPIC_ALIAS, 1)])
    c.send(r.DISCONNECT_BYTES)
    c.closed_by_broker()
    again = r.RawClient(broker5.port, version=5)
    again.connect(f"{uid}-c")
    again.send(r.publish("", b"x", qos=1, pid=2, props=[(r.TOPIC_ALIAS, 1)], version=5))
    assert again.server_disconnect()[0] == r.PROTOCOL_ERROR


@wharf_only  # mosquitto 2.0.11 never sends topic aliases to clients
def test_wharf_sends_topic_aliases_to_clients_that_accept_them(broker5, uid):
    sub = r.RawClient(broker5.port, version=5)
    sub.connect(f"{uid}-s", props=[(r.TOPIC_ALIAS_MAXIMUM, 5)])
    assert sub.subscribe(1, (f"{uid}/ta/#", 1)) == [1]
    pub = paho5(broker5.port, f"{uid}-p")
    sequence = ["a", "a", "b", "a", "b", "b"]
    for i, leaf in enumerate(sequence):
        pub.publish(f"{uid}/ta/{leaf}", str(i).encode(), qos=1)
    wire = []
    for i, leaf in enumerate(sequence):
        topic, _, p, payload, packet = sub.message()
        raw_topic = packet.publish_fields()[0]
        wire.append((raw_topic, p.get(r.TOPIC_ALIAS)))
        assert (topic, payload) == (f"{uid}/ta/{leaf}", str(i).encode()), "aliases resolve to the right topic"
    first_a, first_b = wire[0], wire[2]
    assert first_a[0] == f"{uid}/ta/a" and 1 <= first_a[1] <= 5, "first use: topic and alias"
    assert first_b[0] == f"{uid}/ta/b" and 1 <= first_b[1] <= 5 and first_b[1] != first_a[1]
    assert wire[1] == ("", first_a[1]) and wire[3] == ("", first_a[1]), "later uses: alias only"
    assert wire[4] == ("", first_b[1]) and wire[5] == ("", first_b[1])
    sub.close()
    pub.disconnect()


@wharf_only  # mosquitto 2.0.11 never sends topic aliases to clients
def test_outgoing_aliases_stay_within_the_clients_maximum(broker5, uid):
    sub = r.RawClient(broker5.port, version=5)
    sub.connect(f"{uid}-s", props=[(r.TOPIC_ALIAS_MAXIMUM, 2)])
    assert sub.subscribe(1, (f"{uid}/many/#", 1)) == [1]
    pub = paho5(broker5.port, f"{uid}-p")
    topics = [f"{uid}/many/{i % 6}" for i in range(30)]
    for i, t in enumerate(topics):
        pub.publish(t, str(i).encode(), qos=1)
    used = set()
    for i, t in enumerate(topics):
        topic, _, p, payload, _ = sub.message()
        assert (topic, payload) == (t, str(i).encode())
        if p.get(r.TOPIC_ALIAS) is not None:
            used.add(p.get(r.TOPIC_ALIAS))
    assert used and used <= {1, 2}, f"aliases used: {used}"
    sub.close()
    pub.disconnect()


def test_no_topic_aliases_to_clients_that_did_not_accept_them(broker5, uid):
    sub = r.RawClient(broker5.port, version=5)
    sub.connect(f"{uid}-s")  # no Topic Alias Maximum: 0, no aliases allowed (MQTT-3.3.2-9)
    assert sub.subscribe(1, (f"{uid}/plain", 1)) == [1]
    pub = paho5(broker5.port, f"{uid}-p")
    for i in range(5):
        pub.publish(f"{uid}/plain", str(i).encode(), qos=1)
    for _ in range(5):
        _, _, p, _, packet = sub.message()
        assert packet.publish_fields()[0] == f"{uid}/plain"
        assert r.TOPIC_ALIAS not in p.ids()
    sub.close()
    pub.disconnect()


# --- QoS 2 exactly once (4.3.3) -----------------------------------------------------------------

def test_qos2_resend_awaiting_pubrel_is_acknowledged_but_not_routed_twice(broker5, uid):
    sub = paho5(broker5.port, f"{uid}-s")
    sub.subscribe(f"{uid}/once", 2)
    pub = r.RawClient(broker5.port, version=5)
    pub.connect(f"{uid}-p")
    pub.send(r.publish(f"{uid}/once", b"exactly once", qos=2, pid=7, version=5))
    assert pub.read_type(r.PUBREC).ack_fields()[:2] == (7, 0)
    pub.send(r.publish(f"{uid}/once", b"exactly once", qos=2, pid=7, dup=True, version=5))
    assert pub.read_type(r.PUBREC).ack_fields()[:2] == (7, 0), "the resend is acknowledged again"
    pub.send(r.ack(r.PUBREL, 7))
    assert pub.read_type(r.PUBCOMP).ack_fields()[:2] == (7, 0)
    assert sub.get().payload == b"exactly once"
    sub.nothing_for(1.0)
    pub.close()
    sub.disconnect()


# --- mosquitto_pub / mosquitto_sub in v5 mode ---------------------------------------------------

def test_mosquitto_pub_v5_user_property_reaches_mosquitto_sub_v5(broker5, uid):
    topic = f"{uid}/cli"
    sub = mosquitto_sub5(broker5.port, topic, 1, qos=1, fmt="%t %p %P")
    time.sleep(0.5)
    pub = mosquitto_pub5(broker5.port, topic, "hello", qos=1,
                         extra=["-D", "publish", "user-property", "origin", "cli"])
    assert pub.returncode == 0, pub.stderr
    out, err = sub.communicate(timeout=15)
    assert out.strip() == f"{topic} hello origin:cli", err


def test_mosquitto_pub_v5_properties_reach_paho_v5(broker5, uid):
    topic = f"{uid}/cli2"
    sub = paho5(broker5.port, f"{uid}-s")
    sub.subscribe(topic, 1)
    pub = mosquitto_pub5(broker5.port, topic, '{"t": 21}', qos=2, extra=[
        "-D", "publish", "content-type", "application/json",
        "-D", "publish", "message-expiry-interval", "120",
        "-D", "publish", "user-property", "a", "1",
        "-D", "publish", "user-property", "b", "2"])
    assert pub.returncode == 0, pub.stderr
    m = sub.get()
    assert (m.payload, m.qos) == (b'{"t": 21}', 1)
    assert m.properties.ContentType == "application/json"
    assert m.properties.UserProperty == [("a", "1"), ("b", "2")]
    assert 0 < m.properties.MessageExpiryInterval <= 120
    sub.disconnect()


def test_mosquitto_sub_v5_sees_paho_v5_properties(broker5, uid):
    topic = f"{uid}/cli3"
    sub = mosquitto_sub5(broker5.port, topic, 2, qos=1, fmt="%t|%p|%C|%P")
    time.sleep(0.5)
    pub = paho5(broker5.port, f"{uid}-p")
    pub.publish(topic, b"one", qos=1, properties=props(PacketTypes.PUBLISH, ContentType="text/x",
                                                      UserProperty=[("k", "v")]))
    pub.publish(topic, b"two", qos=0)
    out, err = sub.communicate(timeout=15)
    assert out.splitlines() == [f"{topic}|one|text/x|k:v", f"{topic}|two||"], err
    pub.disconnect()
