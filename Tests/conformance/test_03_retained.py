"""Retained messages (MQTT 3.1.1 section 3.3.1.3)."""
import mqtt_raw as raw
from mqttclients import mosquitto_pub, mosquitto_sub, paho


def test_retained_is_delivered_on_subscribe_with_retain_1_and_replaced(broker, uid):
    b = broker()
    pub = paho(b.port, f"{uid}-pub")
    pub.publish(f"{uid}/r", b"first", qos=1, retain=True)
    pub.publish(f"{uid}/r", b"second", qos=1, retain=True)
    sub = paho(b.port, f"{uid}-sub")
    sub.subscribe(f"{uid}/r", 1)
    m = sub.get()
    assert (m.topic, m.payload, m.retain, m.qos) == (f"{uid}/r", b"second", True, 1), "3.3.1-5/-6/-8"
    sub.assert_nothing_for(0.3)


def test_forwarded_to_existing_subscribers_with_retain_0(broker, uid):
    """3.3.1-9: a retained PUBLISH sent to an established subscription has
    RETAIN 0."""
    b = broker()
    sub = raw.RawClient(b.port)
    sub.connect(f"{uid}-sub")
    sub.subscribe(1, (f"{uid}/live", 1))
    paho(b.port, f"{uid}-pub").publish(f"{uid}/live", b"now", qos=1, retain=True)
    p = sub.expect(raw.PUBLISH)
    assert (p.payload, p.retain) == (b"now", False)


def test_mosquitto_pub_retained_at_qos_0_is_kept(broker, uid):
    """`mosquitto_pub -r` publishes at QoS 0; 3.3.1-7: the server SHOULD
    store it. Then `mosquitto_sub --retained-only` sees it with retain 1."""
    b = broker()
    r = mosquitto_pub(b.port, f"{uid}/state", "on", qos=0, extra=["-r"])
    assert r.returncode == 0, r.stderr
    sub = mosquitto_sub(b.port, f"{uid}/state", 1, extra=["--retained-only"], wait=False)
    assert sub.messages() == [(f"{uid}/state", 0, 1, "on")]


def test_retained_qos_is_min_of_stored_and_granted(broker, uid):
    b = broker()
    pub = paho(b.port, f"{uid}-pub")
    pub.publish(f"{uid}/q2", b"stored at 2", qos=2, retain=True)
    pub.publish(f"{uid}/q0", b"stored at 0", qos=0, retain=True)
    pub.publish(f"{uid}/sync", b"", qos=1)  # the QoS 0 one was routed before this is acknowledged
    sub = paho(b.port, f"{uid}-s1")
    sub.subscribe(f"{uid}/q2", 1)
    sub.subscribe(f"{uid}/q0", 2)
    got = {m.topic: (m.payload, m.qos, m.retain) for m in sub.get_all(2)}
    assert got == {f"{uid}/q2": (b"stored at 2", 1, True), f"{uid}/q0": (b"stored at 0", 0, True)}


def test_empty_payload_clears_and_is_still_forwarded(broker, uid):
    """3.3.1-10/-11: a zero-byte retained PUBLISH removes the retained message
    and is delivered to current subscribers as a normal message."""
    b = broker()
    watcher = paho(b.port, f"{uid}-w")
    watcher.subscribe(f"{uid}/c", 1)
    pub = paho(b.port, f"{uid}-pub")
    pub.publish(f"{uid}/c", b"keep", qos=1, retain=True)
    pub.publish(f"{uid}/c", b"", qos=1, retain=True)
    got = watcher.get_all(2)
    assert [(m.payload, m.retain) for m in got] == [(b"keep", False), (b"", False)]
    late = paho(b.port, f"{uid}-late")
    late.subscribe(f"{uid}/#", 1)
    late.assert_nothing_for(0.5)


def test_clearing_one_topic_leaves_the_others(broker, uid):
    b = broker()
    pub = paho(b.port, f"{uid}-pub")
    for t in ("a", "b", "c"):
        pub.publish(f"{uid}/{t}", t.encode(), qos=1, retain=True)
    pub.publish(f"{uid}/b", b"", qos=1, retain=True)
    sub = paho(b.port, f"{uid}-sub")
    sub.subscribe(f"{uid}/+", 1)
    assert sorted(m.payload for m in sub.get_all(3, timeout=1.0)) == [b"a", b"c"]


def test_retained_matches_wildcards_and_every_subscribe_resends(broker, uid):
    """3.3.1-6: every new SUBSCRIBE (also a repeated one, 3.8.4-3) sends the
    matching retained messages again."""
    b = broker()
    pub = paho(b.port, f"{uid}-pub")
    for t in ("a/1", "a/2", "b/1", "a/1/deep"):
        pub.publish(f"{uid}/{t}", t.encode(), qos=1, retain=True)
    sub = paho(b.port, f"{uid}-sub")
    sub.subscribe(f"{uid}/a/+", 1)
    assert sorted(m.payload for m in sub.get_all(2)) == [b"a/1", b"a/2"]
    sub.assert_nothing_for(0.3)
    sub.subscribe(f"{uid}/a/+", 1)
    assert sorted(m.payload for m in sub.get_all(2)) == [b"a/1", b"a/2"]
    sub.subscribe(f"{uid}/#", 1)
    assert sorted(m.payload for m in sub.get_all(4)) == [b"a/1", b"a/1/deep", b"a/2", b"b/1"]


def test_many_retained_topics_all_delivered_to_a_wildcard_subscriber(broker, uid):
    b = broker()
    pub = raw.RawClient(b.port)
    pub.connect(f"{uid}-pub")
    for i in range(300):
        pub.publish_qos1(f"{uid}/sensor/{i}", str(i).encode(), pid=i + 1, retain=True)
    sub = paho(b.port, f"{uid}-sub")
    sub.subscribe(f"{uid}/sensor/+", 1)
    got = sub.get_all(300, timeout=10)
    assert sorted(int(m.payload) for m in got) == list(range(300))
    assert all(m.retain for m in got)


def test_retained_dollar_topic_not_sent_to_leading_wildcard_filters(broker, uid):
    """4.7.2-1 applies to retained messages too."""
    b = broker()
    pub = paho(b.port, f"{uid}-pub")
    pub.publish(f"$X{uid}/state", b"dollar", qos=1, retain=True)
    pub.publish(f"{uid}/state", b"plain", qos=1, retain=True)
    everything = paho(b.port, f"{uid}-all")
    everything.subscribe("#", 1)
    assert [m.payload for m in everything.get_all(2, timeout=1.0)] == [b"plain"]
    plus = paho(b.port, f"{uid}-plus")
    plus.subscribe("+/state", 1)
    assert [m.payload for m in plus.get_all(2, timeout=1.0)] == [b"plain"]
    explicit = paho(b.port, f"{uid}-x")
    explicit.subscribe(f"$X{uid}/#", 1)
    assert [m.payload for m in explicit.get_all(2, timeout=1.0)] == [b"dollar"]


def test_retained_survives_the_publisher_disconnecting(broker, uid):
    b = broker()
    pub = paho(b.port, f"{uid}-pub")
    pub.publish(f"{uid}/kept", b"after I left", qos=1, retain=True)
    pub.disconnect()
    sub = paho(b.port, f"{uid}-sub")
    sub.subscribe(f"{uid}/kept", 0)
    m = sub.get()
    assert (m.payload, m.retain) == (b"after I left", True)
