"""Consumer groups: shared subscriptions ($share/<group>/<filter>) with real 3.1.1 clients."""
import collections
import json
import time
import urllib.request

import rawmqtt
from mqttclients import mosquitto_sub, paho


def snapshot(broker):
    with urllib.request.urlopen(f"http://127.0.0.1:{broker.metrics_port}/api/v1/snapshot", timeout=5) as r:
        return json.loads(r.read())


def group(broker, name):
    return next(g for g in snapshot(broker)["groups"] if g["name"] == name)


def test_three_members_share_3000_messages_once_each(broker, uid):
    members = [paho(broker.port, f"{uid}-m{i}") for i in range(3)]
    for member in members:
        assert member.subscribe(f"$share/workers/{uid}/jobs/#", 1) == [1]
    pub = paho(broker.port, f"{uid}-pub")
    n = 3000
    for i in range(n):
        pub.publish(f"{uid}/jobs/{i % 7}", str(i).encode(), qos=1, wait=False)
    received = collections.Counter()
    per_member = []
    deadline = time.monotonic() + 30
    while sum(received.values()) < n and time.monotonic() < deadline:
        time.sleep(0.2)
        per_member = [m.messages.qsize() for m in members]
        if sum(per_member) >= n:
            break
    for member in members:
        got = member.get_all(member.messages.qsize(), timeout=2)
        per_member.append(len(got))
        received.update(int(m.payload) for m in got)
    assert sum(received.values()) == n, f"received {sum(received.values())} of {n}"
    assert set(received) == set(range(n)) and max(received.values()) == 1, "each message exactly once"
    counts = per_member[-3:]
    assert all(c > 0 for c in counts), f"every member got work: {counts}"
    g = group(broker, "workers")
    assert g["filter"] == f"{uid}/jobs/#" and g["consumers"] == 3
    assert g["deliveredTotal"] == n and g["depth"] == 0
    for member in members:
        member.disconnect()
    pub.disconnect()


def test_killed_members_unacknowledged_messages_go_to_another(broker, uid):
    # A raw member takes messages and never acknowledges them, then dies.
    raw = rawmqtt.RawClient(broker.port)
    raw.connect(f"{uid}-raw")
    raw.send(rawmqtt.subscribe(1, (f"$share/g/{uid}/work", 1)))
    assert raw.read().type == 9
    pub = paho(broker.port, f"{uid}-pub")
    for i in range(10):
        pub.publish(f"{uid}/work", f"job-{i}".encode(), qos=1)
    held = []
    while len(held) < 10:
        try:
            held.append(raw.read(timeout=2))
        except Exception:
            break
    assert len(held) == 10, "the only member got everything"
    assert group(broker, "g")["inflight"] == 10
    survivor = paho(broker.port, f"{uid}-survivor")
    survivor.subscribe(f"$share/g/{uid}/work", 1)
    raw.close()  # killed without acknowledging
    got = survivor.get_all(10, timeout=10)
    assert sorted(m.payload.decode() for m in got) == sorted(f"job-{i}" for i in range(10))
    time.sleep(0.3)
    g = group(broker, "g")
    assert g["redeliveredTotal"] == 10 and g["inflight"] == 0 and g["acknowledgedTotal"] == 10
    survivor.disconnect()
    pub.disconnect()


def test_group_of_offline_persistent_members_keeps_queueing(broker, uid):
    member = paho(broker.port, f"{uid}-durable", clean=False)
    member.subscribe(f"$share/durable/{uid}/q", 1)
    member.disconnect()
    pub = paho(broker.port, f"{uid}-pub")
    for i in range(25):
        pub.publish(f"{uid}/q", str(i).encode(), qos=1)
    g = group(broker, "durable")
    assert (g["depth"], g["consumers"], g["lagMessages"]) == (25, 0, 25)
    assert g["lagSeconds"] > 0
    back = paho(broker.port, f"{uid}-durable", clean=False)
    got = back.get_all(25, timeout=10)
    assert [int(m.payload) for m in got] == list(range(25)), "in order, when the member comes back"
    back.disconnect()
    pub.disconnect()


def test_mosquitto_sub_joins_a_group_and_plain_subscribers_still_get_every_message(broker, uid):
    topic = f"{uid}/events"
    plain = paho(broker.port, f"{uid}-plain")
    plain.subscribe(topic, 1)
    shared = mosquitto_sub(broker.port, f"$share/audit/{topic}", 5, qos=1)
    time.sleep(0.5)
    pub = paho(broker.port, f"{uid}-pub")
    for i in range(5):
        pub.publish(topic, f"e{i}".encode(), qos=1)
    out, _ = shared.communicate(timeout=10)
    assert [line.split()[1] for line in out.splitlines()] == [f"e{i}" for i in range(5)]
    assert len(plain.get_all(5)) == 5
    plain.disconnect()
    pub.disconnect()


def test_bad_shared_filters_are_refused(broker, uid):
    client = rawmqtt.RawClient(broker.port)
    client.connect(f"{uid}-bad")
    for pid, bad in enumerate(["$share/", "$share/g", "$share/g+/x", "$share//x", "$share/g/a/#/b"], start=1):
        client.send(rawmqtt.subscribe(pid, (bad, 1)))
        suback = client.read()
        assert suback.type == 9 and suback.body[2:] == b"\x80", bad
    client.close()
