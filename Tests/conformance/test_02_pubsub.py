"""PUBLISH / SUBSCRIBE / UNSUBSCRIBE at every QoS with real clients
(MQTT 3.1.1 sections 3.3, 3.8, 3.10, 4.3, 4.6)."""
import time

import pytest

import mqtt_raw as raw
from mqttclients import mosquitto_pub, mosquitto_sub, paho


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_mosquitto_pub_to_mosquitto_sub(broker, uid, qos):
    b = broker()
    topic = f"{uid}/m/{qos}"
    sub = mosquitto_sub(b.port, topic, 1, qos=qos)
    pub = mosquitto_pub(b.port, topic, f"hello at qos {qos}", qos=qos)
    assert pub.returncode == 0, pub.stderr
    assert sub.messages() == [(topic, qos, 0, f"hello at qos {qos}")]
    assert sub.returncode == 0


@pytest.mark.parametrize("pub_qos,sub_qos", [(0, 0), (1, 1), (2, 2), (2, 1), (2, 0), (1, 0), (0, 2), (1, 2)])
def test_paho_delivery_qos_is_the_minimum_of_publish_and_granted(broker, uid, pub_qos, sub_qos):
    """3.8.4: granted QoS = requested (the broker supports all three); 3.3.5:
    delivered at min(publish QoS, granted QoS)."""
    b = broker()
    topic = f"{uid}/p"
    sub = paho(b.port, f"{uid}-sub")
    assert sub.subscribe(topic, sub_qos) == [sub_qos]
    pub = paho(b.port, f"{uid}-pub")
    pub.publish(topic, b"payload", qos=pub_qos)
    m = sub.get()
    assert (m.topic, m.payload, m.qos, m.retain) == (topic, b"payload", min(pub_qos, sub_qos), False)
    sub.assert_nothing_for(0.3)


def test_mosquitto_sub_reports_granted_qos_per_filter(broker, uid):
    b = broker()
    sub = mosquitto_sub(b.port, [f"{uid}/a", f"{uid}/b"], 1, qos=2)
    assert any(line.startswith("Subscribed (mid") and line.endswith(": 2, 2") for line in sub.output), sub.output
    mosquitto_pub(b.port, f"{uid}/b", "x", qos=1)
    assert sub.messages() == [(f"{uid}/b", 1, 0, "x")]


def test_acknowledgements_carry_the_packet_id(broker, uid):
    """PUBACK, PUBREC and PUBCOMP answer with the packet id they acknowledge
    (3.4.2, 3.5.2, 3.7.2); SUBACK and UNSUBACK too (3.8.4-2, 3.10.4-4)."""
    b = broker()
    c = raw.RawClient(b.port)
    c.connect(f"{uid}-ids")
    c.send(raw.subscribe(0x1234, (f"{uid}/a", 0)))
    suback = c.expect(raw.SUBACK)
    assert bytes(suback.body) == b"\x12\x34\x00"
    c.send(raw.publish(f"{uid}/z", b"1", qos=1, pid=0xBEEF))
    assert bytes(c.expect(raw.PUBACK).body) == b"\xbe\xef"
    c.send(raw.publish(f"{uid}/z", b"2", qos=2, pid=0xCAFE))
    rec = c.expect(raw.PUBREC)
    assert (rec.flags, bytes(rec.body)) == (0, b"\xca\xfe")
    c.send(raw.ack(raw.PUBREL, 0xCAFE))
    comp = c.expect(raw.PUBCOMP)
    assert (comp.flags, bytes(comp.body)) == (0, b"\xca\xfe")
    c.send(raw.unsubscribe(0x0F0F, f"{uid}/a"))
    unsuback = c.expect(raw.UNSUBACK)
    assert (unsuback.flags, bytes(unsuback.body)) == (0, b"\x0f\x0f")


def test_qos2_delivery_to_a_subscriber_uses_pubrec_pubrel_pubcomp(broker, uid):
    b = broker()
    sub = raw.RawClient(b.port)
    sub.connect(f"{uid}-s")
    sub.subscribe(1, (f"{uid}/q2", 2))
    paho(b.port, f"{uid}-p").publish(f"{uid}/q2", b"exactly once", qos=2)
    p = sub.expect(raw.PUBLISH)
    assert (p.qos, p.dup, p.retain, p.payload) == (2, False, False, b"exactly once")
    sub.send(raw.ack(raw.PUBREC, p.pid))
    rel = sub.expect(raw.PUBREL)
    assert (rel.flags, rel.pid) == (2, p.pid), "3.6.1-1: PUBREL fixed-header flags are 0010"
    sub.send(raw.ack(raw.PUBCOMP, p.pid))
    assert sub.read_all(quiet=0.3) == []


def test_overlapping_subscriptions_deliver_once_at_the_highest_qos(broker, uid):
    """3.3.5: one client, several matching filters: one copy, max QoS."""
    b = broker()
    c = raw.RawClient(b.port)
    c.connect(f"{uid}-o")
    assert c.subscribe(1, (f"{uid}/#", 0), (f"{uid}/+", 2), (f"{uid}/x", 1)) == [0, 2, 1]
    pub = raw.RawClient(b.port)
    pub.connect(f"{uid}-p")
    pub.send(raw.publish(f"{uid}/x", b"once", qos=2, pid=9))
    pub.expect(raw.PUBREC)
    pub.send(raw.ack(raw.PUBREL, 9))
    pub.expect(raw.PUBCOMP)
    got = [p for p in c.read_all(quiet=0.7) if p.type == raw.PUBLISH]
    assert [(p.payload, p.qos) for p in got] == [(b"once", 2)]


def test_overlapping_subscriptions_with_paho(broker, uid):
    b = broker()
    sub = paho(b.port, f"{uid}-s")
    assert sub.subscribe([(f"{uid}/a/+", 1), (f"{uid}/a/b", 0), (f"{uid}/#", 0)]) == [1, 0, 0]
    pub = paho(b.port, f"{uid}-p")
    pub.publish(f"{uid}/a/b", b"one", qos=1)
    pub.publish(f"{uid}/c", b"two", qos=1)
    got = sub.get_all(3, timeout=1.5)
    assert sorted((m.topic, m.payload, m.qos) for m in got) == [(f"{uid}/a/b", b"one", 1), (f"{uid}/c", b"two", 0)]


@pytest.mark.parametrize("bad", ["a/#/b", "a+", "+a", "a/b+", "#a", "a#", "a/#b", "a/+b/c", "##", "++"])
def test_invalid_filter_gets_0x80_and_the_valid_ones_are_granted(broker, uid, bad):
    """4.7.1-1/-2, 3.9.3: a filter the server cannot accept gets 0x80 in its
    slot; the other filters of the same SUBSCRIBE are still granted, and the
    client stays connected."""
    b = broker()
    c = raw.RawClient(b.port)
    c.connect(f"{uid}-f")
    assert c.subscribe(3, (f"{uid}/ok", 1), (bad, 2), (f"{uid}/ok2", 0)) == [1, 0x80, 0]
    c.publish_qos1(f"{uid}/ok", b"still subscribed", pid=4)
    assert c.expect(raw.PUBLISH).payload == b"still subscribed"


def test_unsubscribe_stops_delivery(broker, uid):
    b = broker()
    topic = f"{uid}/u"
    sub = paho(b.port, f"{uid}-sub")
    sub.subscribe(topic, 1)
    pub = paho(b.port, f"{uid}-pub")
    pub.publish(topic, b"before", qos=1)
    assert sub.get().payload == b"before"
    sub.unsubscribe(topic)
    pub.publish(topic, b"after", qos=1)
    sub.assert_nothing_for(0.5)


def test_unsubscribing_one_filter_keeps_the_others(broker, uid):
    b = broker()
    sub = paho(b.port, f"{uid}-sub")
    sub.subscribe([(f"{uid}/a", 1), (f"{uid}/+", 1)])
    sub.unsubscribe(f"{uid}/a")
    paho(b.port, f"{uid}-pub").publish(f"{uid}/a", b"via plus", qos=1)
    assert [m.payload for m in sub.get_all(2, timeout=1.0)] == [b"via plus"]


def test_unsubscribe_of_an_unknown_filter_is_still_acknowledged(broker, uid):
    """3.10.4-5: UNSUBACK even if no filter matched."""
    b = broker()
    c = raw.RawClient(b.port)
    c.connect(f"{uid}-u")
    c.send(raw.unsubscribe(77, f"{uid}/never", "also/never"))
    assert c.expect(raw.UNSUBACK).pid == 77
    c.ping()


def test_resubscribing_replaces_the_qos(broker, uid):
    """3.8.4-3: a SUBSCRIBE for an existing filter replaces the subscription
    (new QoS); it does not add a second one."""
    b = broker()
    c = raw.RawClient(b.port)
    c.connect(f"{uid}-r")
    assert c.subscribe(1, (f"{uid}/t", 2)) == [2]
    assert c.subscribe(2, (f"{uid}/t", 0)) == [0]
    pub = raw.RawClient(b.port)
    pub.connect(f"{uid}-p")
    pub.publish_qos1(f"{uid}/t", b"m", pid=1)
    got = [p for p in c.read_all(quiet=0.7) if p.type == raw.PUBLISH]
    assert [(p.payload, p.qos) for p in got] == [(b"m", 0)]


def test_publisher_subscribed_to_its_own_topic_gets_its_message(broker, uid):
    b = broker()
    c = paho(b.port, f"{uid}-self")
    c.subscribe(f"{uid}/echo", 1)
    c.publish(f"{uid}/echo", b"me", qos=1)
    assert c.get().payload == b"me"


def test_fan_out_to_many_subscribers(broker, uid):
    b = broker()
    subs = [raw.RawClient(b.port) for _ in range(20)]
    for i, s in enumerate(subs):
        s.connect(f"{uid}-s{i}")
        s.subscribe(1, (f"{uid}/fan", 1))
    pub = raw.RawClient(b.port)
    pub.connect(f"{uid}-p")
    pub.publish_qos1(f"{uid}/fan", b"to all", pid=1)
    for s in subs:
        p = s.expect(raw.PUBLISH)
        assert (p.topic, p.payload, p.qos) == (f"{uid}/fan", b"to all", 1)
        s.send(raw.ack(raw.PUBACK, p.pid))
    for s in subs:
        assert s.read_all(quiet=0.05) == [], "one copy each"


def test_empty_and_binary_payloads_are_delivered_intact(broker, uid):
    b = broker()
    sub = paho(b.port, f"{uid}-sub")
    sub.subscribe(f"{uid}/bin", 2)
    pub = paho(b.port, f"{uid}-pub")
    binary = bytes(range(256)) * 4
    pub.publish(f"{uid}/bin", b"", qos=1)
    pub.publish(f"{uid}/bin", binary, qos=2)
    got = sub.get_all(2)
    assert [m.payload for m in got] == [b"", binary]


def test_large_payload_under_the_packet_limit(broker, uid):
    """A 900 KB message under the default 1 MiB max_packet_size goes through
    (in and out), byte for byte."""
    b = broker()
    sub = paho(b.port, f"{uid}-sub")
    sub.subscribe(f"{uid}/big", 1)
    payload = bytes((i * 7) % 251 for i in range(900_000))
    paho(b.port, f"{uid}-pub").publish(f"{uid}/big", payload, qos=1)
    m = sub.get(timeout=10)
    assert len(m.payload) == len(payload) and m.payload == payload


def test_unusual_but_valid_topic_names_are_matched_exactly(broker, uid):
    """4.7: topics are case sensitive and may contain spaces, non-ASCII
    UTF-8, empty levels and a leading or trailing '/'."""
    b = broker()
    topics = [f"{uid}/Case", f"{uid}/case", f"{uid}/with space", f"{uid}/ünï/кодировка/漢字",
              f"{uid}//empty", f"/{uid}", f"{uid}/trailing/"]
    subs = []
    for i, t in enumerate(topics):
        s = raw.RawClient(b.port)
        s.connect(f"{uid}-s{i}")
        s.subscribe(1, (t, 1))
        subs.append(s)
    pub = raw.RawClient(b.port)
    pub.connect(f"{uid}-p")
    for i, t in enumerate(topics):
        pub.publish_qos1(t, t.encode(), pid=i + 1)
    for t, s in zip(topics, subs):
        got = [(p.topic, p.payload) for p in s.read_all(quiet=0.2) if p.type == raw.PUBLISH]
        assert got == [(t, t.encode())]


@pytest.mark.parametrize("qos", [1, 2])
def test_order_per_topic_is_kept_for_1000_messages(broker, uid, qos):
    """4.6: messages on one topic arrive in the order they were published."""
    b = broker()
    topic = f"{uid}/order"
    sub = paho(b.port, f"{uid}-sub")
    sub.subscribe(topic, qos)
    pub = paho(b.port, f"{uid}-pub")
    infos = [pub.publish(topic, str(i).encode(), qos=qos, wait=False) for i in range(1000)]
    for info in infos:
        info.wait_for_publish(timeout=30)
    got = sub.get_all(1000, timeout=30)
    assert [int(m.payload) for m in got] == list(range(1000))
    assert all(m.qos == qos for m in got)
    sub.assert_nothing_for(0.2)


def test_mosquitto_pub_many_lines_arrive_in_order(broker, uid):
    b = broker()
    lines = [f"line {i}" for i in range(200)]
    sub = mosquitto_sub(b.port, f"{uid}/lines", len(lines), qos=1, timeout=20)
    pub = mosquitto_pub(b.port, f"{uid}/lines", qos=1, extra=["-l"], stdin="\n".join(lines) + "\n")
    assert pub.returncode == 0, pub.stderr
    assert [m[3] for m in sub.messages()] == lines


def test_qos2_publish_resent_before_pubrel_is_not_delivered_twice(broker, uid):
    """4.3.3: method B; a PUBLISH resent with DUP before PUBREL is
    acknowledged again but not routed again."""
    b = broker()
    topic = f"{uid}/eo"
    sub = paho(b.port, f"{uid}-sub")
    sub.subscribe(topic, 2)
    c = raw.RawClient(b.port)
    c.connect(f"{uid}-p")
    c.send(raw.publish(topic, b"exactly", qos=2, pid=5))
    c.expect(raw.PUBREC)
    c.send(raw.publish(topic, b"exactly", qos=2, pid=5, dup=True))
    c.expect(raw.PUBREC)
    c.send(raw.ack(raw.PUBREL, 5))
    c.expect(raw.PUBCOMP)
    assert sub.get().payload == b"exactly"
    sub.assert_nothing_for(0.5)
    # After PUBCOMP the id is free again: a new message with it is delivered.
    c.send(raw.publish(topic, b"new message, same id", qos=2, pid=5))
    c.expect(raw.PUBREC)
    c.send(raw.ack(raw.PUBREL, 5))
    c.expect(raw.PUBCOMP)
    assert sub.get().payload == b"new message, same id"


def test_many_packets_in_one_tcp_write_are_all_processed_in_order(broker, uid):
    b = broker()
    c = raw.RawClient(b.port)
    blob = (raw.connect(f"{uid}-burst") + raw.subscribe(1, (f"{uid}/b", 1))
            + b"".join(raw.publish(f"{uid}/b", str(i).encode(), qos=1, pid=100 + i) for i in range(50))
            + raw.PINGREQ_BYTES)
    c.send(blob)
    got = c.read_all(quiet=1.0)
    assert got[0].type == raw.CONNACK and got[1].type == raw.SUBACK
    acks = [p.pid for p in got if p.type == raw.PUBACK]
    pubs = [p.payload for p in got if p.type == raw.PUBLISH]
    assert acks == [100 + i for i in range(50)]
    assert pubs == [str(i).encode() for i in range(20)], "the in-flight window (20) is filled in order"
    assert raw.PINGRESP in [p.type for p in got]


def test_connect_dripped_one_byte_at_a_time_is_accepted(broker, uid):
    b = broker()
    c = raw.RawClient(b.port)
    for byte in raw.connect(f"{uid}-drip", keepalive=30):
        c.send(bytes([byte]))
        time.sleep(0.005)
    assert c.expect(raw.CONNACK).connack() == (False, 0)
    c.ping()
