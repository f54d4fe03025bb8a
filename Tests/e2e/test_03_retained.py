"""Retained messages (3.1.1 section 3.3.1.3)."""
from mqttclients import paho


def test_retained_delivered_on_subscribe_with_retain_flag(broker, uid):
    pub = paho(broker.port, f"{uid}-pub")
    pub.publish(f"{uid}/r", b"first", qos=1, retain=True)
    pub.publish(f"{uid}/r", b"second", qos=1, retain=True)
    sub = paho(broker.port, f"{uid}-sub")
    sub.subscribe(f"{uid}/#", 1)
    m = sub.get()
    assert (m.payload, m.retain) == (b"second", True), "the newest retained message replaces the old one"
    sub.nothing_for(0.3)


def test_live_delivery_has_retain_flag_clear(broker, uid):
    sub = paho(broker.port, f"{uid}-sub")
    sub.subscribe(f"{uid}/live", 1)
    paho(broker.port, f"{uid}-pub").publish(f"{uid}/live", b"now", qos=1, retain=True)
    m = sub.get()
    assert (m.payload, m.retain) == (b"now", False)


def test_empty_payload_clears_retained(broker, uid):
    pub = paho(broker.port, f"{uid}-pub")
    pub.publish(f"{uid}/c", b"keep", qos=1, retain=True)
    pub.publish(f"{uid}/c", b"", qos=1, retain=True)
    sub = paho(broker.port, f"{uid}-sub")
    sub.subscribe(f"{uid}/c", 1)
    sub.nothing_for(0.5)


def test_retained_matches_wildcards_and_resubscribe_resends(broker, uid):
    pub = paho(broker.port, f"{uid}-pub")
    for t in ("a/1", "a/2", "b/1"):
        pub.publish(f"{uid}/{t}", t.encode(), qos=1, retain=True)
    sub = paho(broker.port, f"{uid}-sub")
    sub.subscribe(f"{uid}/a/+", 1)
    assert sorted(m.payload for m in sub.get_all(2)) == [b"a/1", b"a/2"]
    sub.nothing_for(0.3)
    sub.subscribe(f"{uid}/a/+", 1)
    assert sorted(m.payload for m in sub.get_all(2)) == [b"a/1", b"a/2"], "resubscribing resends retained"
