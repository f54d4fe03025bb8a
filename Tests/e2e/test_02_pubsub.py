"""PUBLISH/SUBSCRIBE at every QoS with real clients (3.1.1 sections 3.3, 3.8, 4.3)."""
import time

import pytest

import rawmqtt as raw
from mqttclients import mosquitto_pub, mosquitto_sub, paho


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_mosquitto_clients_round_trip(broker, uid, qos):
    topic = f"{uid}/m/{qos}"
    sub = mosquitto_sub(broker.port, topic, 1, qos=qos)
    time.sleep(0.5)
    pub = mosquitto_pub(broker.port, topic, f"hello-{qos}", qos=qos)
    assert pub.returncode == 0, pub.stderr
    out, err = sub.communicate(timeout=15)
    assert sub.returncode == 0, err
    assert out.strip() == f"{topic} hello-{qos}"


@pytest.mark.parametrize("pub_qos,sub_qos", [(0, 0), (1, 1), (2, 2), (2, 1), (1, 0), (0, 2)])
def test_paho_round_trip_at_min_qos(broker, uid, pub_qos, sub_qos):
    topic = f"{uid}/p"
    sub = paho(broker.port, f"{uid}-sub")
    assert sub.subscribe(topic, sub_qos)[0].value == sub_qos, "granted QoS is the requested QoS"
    pub = paho(broker.port, f"{uid}-pub")
    pub.publish(topic, b"payload", qos=pub_qos)
    m = sub.get()
    assert (m.topic, m.payload, m.qos, m.retain) == (topic, b"payload", min(pub_qos, sub_qos), False)
    sub.nothing_for(0.3)


def test_overlapping_subscriptions_deliver_once_at_max_qos(broker, uid):
    c = raw.RawClient(broker.port)
    c.connect(f"{uid}-o")
    c.send(raw.subscribe(1, (f"{uid}/#", 0), (f"{uid}/+", 2), (f"{uid}/x", 1)))
    suback = c.read()
    assert suback.type == raw.SUBACK and suback.body[2:] == bytes([0, 2, 1])
    c.send(raw.publish(f"{uid}/x", b"once", qos=2, pid=9))
    assert c.read().type == raw.PUBREC
    c.send(raw.ack(raw.PUBREL, 9))
    got = []
    try:
        while True:
            got.append(c.read(timeout=1))
    except Exception:
        pass
    publishes = [p for p in got if p.type == raw.PUBLISH]
    assert len(publishes) == 1, got
    assert publishes[0].qos == 2


def test_invalid_filter_gets_0x80_and_valid_ones_are_granted(broker, uid):
    c = raw.RawClient(broker.port)
    c.connect(f"{uid}-f")
    c.send(raw.subscribe(3, ("a/#/b", 1), (f"{uid}/ok", 1), ("a+", 0)))
    suback = c.read()
    assert suback.body[:2] == b"\x00\x03"
    assert suback.body[2:] == bytes([0x80, 1, 0x80])


def test_unsubscribe_stops_delivery(broker, uid):
    topic = f"{uid}/u"
    sub = paho(broker.port, f"{uid}-sub")
    sub.subscribe(topic, 1)
    pub = paho(broker.port, f"{uid}-pub")
    pub.publish(topic, b"before", qos=1)
    assert sub.get().payload == b"before"
    done = []
    sub.client.on_unsubscribe = lambda *a: done.append(True)
    sub.client.unsubscribe(topic)
    deadline = time.monotonic() + 5
    while not done and time.monotonic() < deadline:
        time.sleep(0.02)
    assert done, "UNSUBACK received"
    pub.publish(topic, b"after", qos=1)
    sub.nothing_for(0.5)


def test_order_per_topic_is_kept(broker, uid):
    topic = f"{uid}/order"
    sub = paho(broker.port, f"{uid}-sub")
    sub.subscribe(topic, 1)
    pub = paho(broker.port, f"{uid}-pub")
    infos = [pub.publish(topic, str(i).encode(), qos=1, wait=False) for i in range(1000)]
    for info in infos:
        info.wait_for_publish(timeout=20)
    got = sub.get_all(1000, timeout=30)
    assert [int(m.payload) for m in got] == list(range(1000))


def test_qos2_resent_publish_is_not_routed_twice(broker, uid):
    topic = f"{uid}/eo"
    sub = paho(broker.port, f"{uid}-sub")
    sub.subscribe(topic, 2)
    c = raw.RawClient(broker.port)
    c.connect(f"{uid}-p")
    c.send(raw.publish(topic, b"exactly", qos=2, pid=5))
    assert c.read().type == raw.PUBREC
    c.send(raw.publish(topic, b"exactly", qos=2, pid=5, dup=True))
    assert c.read().type == raw.PUBREC
    c.send(raw.ack(raw.PUBREL, 5))
    assert c.read().type == raw.PUBCOMP
    assert sub.get().payload == b"exactly"
    sub.nothing_for(0.5)
