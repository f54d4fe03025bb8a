"""Consumer groups (shared subscriptions, MQTT 5.0 section 4.8.2) with v5
clients, alone and beside 3.1.1 clients; the group figures in the snapshot.

WHARF_E2E_REFERENCE=mosquitto runs the tests not marked wharf_only against
mosquitto (snapshot checks are Wharf's and are left out there)."""
import collections
import time

from mqtt5clients import broker5, mosquitto_sub5, paho5, snapshot, wharf_only  # noqa: F401 (fixtures)
from mqttclients import paho


def group(broker, name):
    snap = snapshot(broker)
    return None if snap is None else next(g for g in snap["groups"] if g["name"] == name)


def _collect(members, n, timeout=30):
    """Everything the members received, per member, once n arrived or timeout passed."""
    per_member = [[] for _ in members]
    deadline = time.monotonic() + timeout
    while sum(map(len, per_member)) < n and time.monotonic() < deadline:
        for i, m in enumerate(members):
            per_member[i] += m.get_all(n, timeout=0.05)
    for i, m in enumerate(members):  # anything late would be a duplicate
        per_member[i] += m.get_all(n, timeout=0.3)
    return per_member


def test_three_v5_members_share_3000_messages_once_each(broker5, uid):
    members = [paho5(broker5.port, f"{uid}-m{i}") for i in range(3)]
    for member in members:
        assert member.subscribe(f"$share/workers/{uid}/jobs/#", 1) == [1]
    pub = paho5(broker5.port, f"{uid}-pub")
    n = 3000
    for i in range(n):
        pub.publish(f"{uid}/jobs/{i % 7}", str(i).encode(), qos=1, wait=False)
    per_member = _collect(members, n)
    received = collections.Counter(int(m.payload) for got in per_member for m in got)
    assert sum(received.values()) == n, f"received {sum(received.values())} of {n}"
    assert set(received) == set(range(n)) and max(received.values()) == 1, "each message exactly once"
    counts = [len(got) for got in per_member]
    assert all(c >= n // 10 for c in counts), f"every member got a fair part of the work: {counts}"
    if (g := group(broker5, "workers")) is not None:
        assert g["filter"] == f"{uid}/jobs/#" and g["consumers"] == 3
        assert g["deliveredTotal"] == n and g["depth"] == 0 and g["inflight"] == 0
    for member in members:
        member.disconnect()
    pub.disconnect()


def test_v311_and_v5_members_share_one_group(broker5, uid):
    old = paho(broker5.port, f"{uid}-old")
    assert old.subscribe(f"$share/mixed/{uid}/t", 1) == [1]
    new = paho5(broker5.port, f"{uid}-new")
    assert new.subscribe(f"$share/mixed/{uid}/t", 1) == [1]
    pub = paho5(broker5.port, f"{uid}-pub")
    for i in range(200):
        pub.publish(f"{uid}/t", str(i).encode(), qos=1, wait=False)
    per_member = _collect([old, new], 200, timeout=15)
    received = collections.Counter(int(m.payload) for got in per_member for m in got)
    assert set(received) == set(range(200)) and max(received.values()) == 1
    assert all(len(got) > 0 for got in per_member), [len(got) for got in per_member]
    old.disconnect()
    new.disconnect()
    pub.disconnect()


def test_plain_v5_subscriber_beside_a_group_gets_every_message(broker5, uid):
    plain = paho5(broker5.port, f"{uid}-plain")
    plain.subscribe(f"{uid}/e", 1)
    members = [paho5(broker5.port, f"{uid}-m{i}") for i in range(2)]
    for m in members:
        m.subscribe(f"$share/audit/{uid}/e", 1)
    pub = paho5(broker5.port, f"{uid}-pub")
    for i in range(20):
        pub.publish(f"{uid}/e", str(i).encode(), qos=1)
    assert [int(m.payload) for m in plain.get_all(20)] == list(range(20))
    shared = _collect(members, 20, timeout=10)
    assert sorted(int(m.payload) for got in shared for m in got) == list(range(20))
    for c in (plain, *members, pub):
        c.disconnect()


def test_shared_subscription_carries_its_subscription_identifier(broker5, uid):
    member = paho5(broker5.port, f"{uid}-m")
    member.subscribe(f"$share/ids/{uid}/t", 1, sub_id=21)
    paho5(broker5.port, f"{uid}-p").publish(f"{uid}/t", b"x", qos=1)
    m = member.get()
    assert (m.topic, m.payload, m.properties.SubscriptionIdentifier) == (f"{uid}/t", b"x", [21])
    member.disconnect()


def test_leaving_a_group_hands_all_work_to_the_rest(broker5, uid):
    a, b = paho5(broker5.port, f"{uid}-a"), paho5(broker5.port, f"{uid}-b")
    for m in (a, b):
        m.subscribe(f"$share/g/{uid}/t", 1)
    assert a.unsubscribe(f"$share/g/{uid}/t") == [0]
    pub = paho5(broker5.port, f"{uid}-p")
    for i in range(10):
        pub.publish(f"{uid}/t", str(i).encode(), qos=1)
    assert [int(m.payload) for m in b.get_all(10)] == list(range(10))
    a.nothing_for(0.3)
    for c in (a, b, pub):
        c.disconnect()


def test_mosquitto_sub_v5_members_split_a_stream(broker5, uid):
    subs = [mosquitto_sub5(broker5.port, f"$share/cli/{uid}/s", 10, qos=1, timeout=5, fmt="%p") for _ in range(2)]
    time.sleep(0.7)
    pub = paho5(broker5.port, f"{uid}-p")
    for i in range(10):
        pub.publish(f"{uid}/s", str(i).encode(), qos=1)
    outs = [s.communicate(timeout=15)[0].split() for s in subs]  # -W 5 ends each one
    assert sorted(int(x) for out in outs for x in out) == list(range(10)), outs
    assert all(outs), f"both members took part: {outs}"
    pub.disconnect()


@wharf_only  # mosquitto 2.0.11 drops a dead member's unacknowledged messages instead of passing them on
def test_killed_v5_members_unacknowledged_messages_go_to_another(broker5, uid):
    hoarder = paho5(broker5.port, f"{uid}-hoarder", manual_ack=True)
    hoarder.subscribe(f"$share/g/{uid}/work", 1)
    pub = paho5(broker5.port, f"{uid}-pub")
    for i in range(10):
        pub.publish(f"{uid}/work", f"job-{i}".encode(), qos=1)
    held = hoarder.get_all(10)
    assert len(held) == 10, "the only member got everything"
    assert group(broker5, "g")["inflight"] == 10
    survivor = paho5(broker5.port, f"{uid}-survivor")
    survivor.subscribe(f"$share/g/{uid}/work", 1)
    hoarder.kill()  # gone without acknowledging; session expiry 0 ends its session (4.8.2)
    got = survivor.get_all(10, timeout=10)
    assert sorted(m.payload.decode() for m in got) == sorted(f"job-{i}" for i in range(10))
    time.sleep(0.3)
    g = group(broker5, "g")
    assert g["redeliveredTotal"] == 10 and g["inflight"] == 0 and g["acknowledgedTotal"] == 10
    survivor.disconnect()
    pub.disconnect()


@wharf_only  # the group figures come from Wharf's snapshot
def test_group_of_an_offline_v5_member_with_session_expiry_keeps_queueing(broker5, uid):
    member = paho5(broker5.port, f"{uid}-durable", clean_start=False, session_expiry=300)
    member.subscribe(f"$share/durable/{uid}/q", 1)
    member.disconnect()
    pub = paho5(broker5.port, f"{uid}-pub")
    for i in range(25):
        pub.publish(f"{uid}/q", str(i).encode(), qos=1)
    g = group(broker5, "durable")
    assert (g["depth"], g["consumers"], g["lagMessages"]) == (25, 0, 25)
    assert g["lagSeconds"] > 0
    back = paho5(broker5.port, f"{uid}-durable", clean_start=False, session_expiry=300)
    assert back.session_present
    assert [int(m.payload) for m in back.get_all(25, timeout=10)] == list(range(25)), "in order"
    time.sleep(0.3)
    g = group(broker5, "durable")
    assert (g["depth"], g["inflight"], g["lagMessages"]) == (0, 0, 0)
    back.disconnect()
    pub.disconnect()
