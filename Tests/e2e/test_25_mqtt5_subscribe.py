"""MQTT 5.0 SUBSCRIBE (section 3.8): subscription options (No Local, Retain As
Published, Retain Handling), Subscription Identifiers, SUBACK reason codes.

WHARF_E2E_REFERENCE=mosquitto runs the tests not marked wharf_only against
mosquitto, to prove the tests themselves right."""
import rawmqtt as r
from mqtt5clients import broker5, paho5, wharf_only  # noqa: F401 (fixtures)


def test_no_local_keeps_a_clients_own_messages_from_coming_back(broker5, uid):
    chat = paho5(broker5.port, f"{uid}-me")
    assert chat.subscribe(f"{uid}/room", 1, no_local=True) == [1]
    assert chat.subscribe(f"{uid}/echo", 1) == [1]
    other = paho5(broker5.port, f"{uid}-other")
    other.subscribe(f"{uid}/room", 1)
    chat.publish(f"{uid}/room", b"mine", qos=1)
    chat.publish(f"{uid}/echo", b"echoed", qos=1)
    assert other.get().payload == b"mine", "others still get it"
    assert chat.get().payload == b"echoed", "without No Local a client hears itself"
    chat.nothing_for(0.5)
    other.publish(f"{uid}/room", b"theirs", qos=1)
    assert chat.get().payload == b"theirs", "No Local only filters the client's own messages"
    chat.disconnect()
    other.disconnect()


def test_retain_as_published_keeps_the_retain_flag_on_live_deliveries(broker5, uid):
    keep = paho5(broker5.port, f"{uid}-keep")
    keep.subscribe(f"{uid}/r", 1, retain_as_published=True)
    plain = paho5(broker5.port, f"{uid}-plain")
    plain.subscribe(f"{uid}/r", 1)
    pub = paho5(broker5.port, f"{uid}-p")
    pub.publish(f"{uid}/r", b"retained", qos=1, retain=True)
    pub.publish(f"{uid}/r", b"not retained", qos=1)
    assert [(m.payload, m.retain) for m in keep.get_all(2)] == [(b"retained", True), (b"not retained", False)]
    assert [(m.payload, m.retain) for m in plain.get_all(2)] == [(b"retained", False), (b"not retained", False)]
    for c in (keep, plain, pub):
        c.disconnect()


def _retained(broker, uid):
    pub = paho5(broker.port, f"{uid}-p")
    pub.publish(f"{uid}/state", b"on", qos=1, retain=True)
    pub.disconnect()


def test_retain_handling_0_sends_retained_on_every_subscribe(broker5, uid):
    _retained(broker5, uid)
    c = paho5(broker5.port, f"{uid}-c")
    c.subscribe(f"{uid}/state", 1, retain_handling=0)
    m = c.get()
    assert (m.payload, m.retain) == (b"on", True)
    c.subscribe(f"{uid}/state", 1, retain_handling=0)
    assert c.get().payload == b"on", "again on a repeated SUBSCRIBE"
    c.disconnect()


def test_retain_handling_1_sends_retained_only_for_a_new_subscription(broker5, uid):
    _retained(broker5, uid)
    c = paho5(broker5.port, f"{uid}-c")
    c.subscribe(f"{uid}/state", 1, retain_handling=1)
    assert c.get().payload == b"on"
    c.subscribe(f"{uid}/state", 1, retain_handling=1)
    c.nothing_for(0.7)
    c.disconnect()


def test_retain_handling_2_never_sends_retained(broker5, uid):
    _retained(broker5, uid)
    c = paho5(broker5.port, f"{uid}-c")
    assert c.subscribe(f"{uid}/state", 1, retain_handling=2) == [1]
    c.nothing_for(0.7)
    paho5(broker5.port, f"{uid}-p2").publish(f"{uid}/state", b"live", qos=1)
    assert c.get().payload == b"live", "live messages still flow"
    c.disconnect()


def test_subscription_identifier_is_carried_by_matching_messages(broker5, uid):
    c = paho5(broker5.port, f"{uid}-c")
    c.subscribe(f"{uid}/ids/+", 1, sub_id=7)
    c.subscribe(f"{uid}/plain", 1)
    pub = paho5(broker5.port, f"{uid}-p")
    pub.publish(f"{uid}/ids/a", b"with id", qos=1)
    pub.publish(f"{uid}/plain", b"without", qos=1)
    tagged, untagged = c.get_all(2)
    assert (tagged.payload, tagged.properties.SubscriptionIdentifier) == (b"with id", [7])
    assert untagged.payload == b"without"
    assert not hasattr(untagged.properties, "SubscriptionIdentifier")
    c.disconnect()
    pub.disconnect()


def test_overlapping_subscriptions_carry_every_matching_identifier(broker5, uid):
    """3.3.4: one copy with all identifiers, or one copy per subscription with its own."""
    c = paho5(broker5.port, f"{uid}-c")
    c.subscribe(f"{uid}/o/#", 1, sub_id=1)
    c.subscribe(f"{uid}/o/+/z", 1, sub_id=268435455)  # the largest Variable Byte Integer
    paho5(broker5.port, f"{uid}-p").publish(f"{uid}/o/y/z", b"both", qos=1)
    copies = c.get_all(2, timeout=1.5)
    assert copies and all(m.payload == b"both" for m in copies)
    ids = [m.properties.SubscriptionIdentifier for m in copies]
    assert all(ids), f"every copy names its subscription(s): {ids}"
    assert sorted(i for group in ids for i in group) == [1, 268435455]
    c.disconnect()


def test_resubscribing_replaces_the_subscription_identifier(broker5, uid):
    c = paho5(broker5.port, f"{uid}-c")
    c.subscribe(f"{uid}/re", 1, sub_id=3)
    c.subscribe(f"{uid}/re", 1, sub_id=4)
    paho5(broker5.port, f"{uid}-p").publish(f"{uid}/re", b"x", qos=1)
    m = c.get()
    assert m.properties.SubscriptionIdentifier == [4]
    c.nothing_for(0.3)
    c.disconnect()


def test_persistent_session_keeps_subscription_options(broker5, uid):
    c = paho5(broker5.port, f"{uid}-c", clean_start=False, session_expiry=60)
    c.subscribe(f"{uid}/keep", 1, no_local=True, sub_id=9)
    c.disconnect()
    back = paho5(broker5.port, f"{uid}-c", clean_start=False, session_expiry=60)
    assert back.session_present
    back.publish(f"{uid}/keep", b"own", qos=1)
    paho5(broker5.port, f"{uid}-p").publish(f"{uid}/keep", b"foreign", qos=1)
    m = back.get()
    assert (m.payload, m.properties.SubscriptionIdentifier) == (b"foreign", [9])
    back.nothing_for(0.5)
    back.disconnect()


def test_suback_grants_the_requested_qos_per_filter(broker5, uid):
    c = r.RawClient(broker5.port, version=5)
    c.connect(f"{uid}-c")
    codes = c.subscribe(5, (f"{uid}/q0", r.subopts(0)), (f"{uid}/q1", r.subopts(1)), (f"{uid}/q2", r.subopts(2)),
                        (f"{uid}/all/#", r.subopts(1, no_local=True, retain_as_published=True, retain_handling=2)))
    assert codes == [0, 1, 2, 1]
    c.close()


def test_delivery_qos_is_the_lower_of_publish_and_subscription(broker5, uid):
    c = paho5(broker5.port, f"{uid}-c")
    c.subscribe(f"{uid}/down", 1)
    paho5(broker5.port, f"{uid}-p").publish(f"{uid}/down", b"x", qos=2)
    assert c.get().qos == 1
    c.disconnect()


@wharf_only  # mosquitto closes a filter like a/#/b as malformed (0x81); the spec lets the server choose
def test_invalid_topic_filter_gets_0x8f_and_the_connection_stays(broker5, uid):
    c = r.RawClient(broker5.port, version=5)
    c.connect(f"{uid}-c")
    codes = c.subscribe(1, ("a/#/b", 1), (f"{uid}/fine", 1), ("a/b+", 0), ("$share/g/a/#/b", 1))
    assert codes == [r.TOPIC_FILTER_INVALID, 1, r.TOPIC_FILTER_INVALID, r.TOPIC_FILTER_INVALID]
    c.send(r.PINGREQ_BYTES)
    assert c.read().type == r.PINGRESP
    c.close()


@wharf_only  # mosquitto 2.0.11 grants it, against MQTT-3.8.3-4
def test_shared_subscription_with_no_local_is_a_protocol_error(broker5, uid):
    c = r.RawClient(broker5.port, version=5)
    c.connect(f"{uid}-c")
    c.send(r.subscribe(1, (f"$share/g/{uid}/x", r.subopts(1, no_local=True)), version=5))
    assert c.server_disconnect()[0] == r.PROTOCOL_ERROR


def test_raw_subscription_identifier_on_the_wire(broker5, uid):
    c = r.RawClient(broker5.port, version=5)
    c.connect(f"{uid}-c")
    assert c.subscribe(1, (f"{uid}/w", 1), props=[(r.SUBSCRIPTION_ID, 200)]) == [1]
    pub = r.RawClient(broker5.port, version=5)
    pub.connect(f"{uid}-p")
    pub.publish_acked(f"{uid}/w", b"x", 1, 1)
    _, _, p, payload, _ = c.message()
    assert payload == b"x" and p.all(r.SUBSCRIPTION_ID) == [200]
    c.close()
    pub.close()


def test_unsubscribe_of_one_of_two_overlapping_filters(broker5, uid):
    c = paho5(broker5.port, f"{uid}-c")
    c.subscribe(f"{uid}/u/#", 1, sub_id=1)
    c.subscribe(f"{uid}/u/x", 1, sub_id=2)
    assert c.unsubscribe(f"{uid}/u/#") == [0]
    paho5(broker5.port, f"{uid}-p").publish(f"{uid}/u/x", b"x", qos=1)
    m = c.get()
    assert m.properties.SubscriptionIdentifier == [2]
    c.nothing_for(0.5)
    c.disconnect()


def test_retained_messages_on_subscribe_carry_the_subscription_identifier(broker5, uid):
    _retained(broker5, uid)
    c = paho5(broker5.port, f"{uid}-c")
    c.subscribe(f"{uid}/+", 1, sub_id=11)
    m = c.get()
    assert (m.payload, m.retain, m.properties.SubscriptionIdentifier) == (b"on", True, [11])
    c.disconnect()
