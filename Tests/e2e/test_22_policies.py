"""Delivery policies from the config file: message TTL and delivery attempts
with dead-lettering to $DLQ/<topic>, driven by real clients."""
import json
import time
import urllib.request

import pytest

import rawmqtt
from mqttclients import paho

POLICIES = """
[[policy]]
pattern = "ttl/#"
message_ttl = 1

[[policy]]
pattern = "work/#"
max_delivery_attempts = 2
"""


def snapshot(broker):
    with urllib.request.urlopen(f"http://127.0.0.1:{broker.metrics_port}/api/v1/snapshot", timeout=5) as r:
        return json.loads(r.read())


@pytest.mark.parametrize("overflow, kept", [("drop-oldest", [7, 8, 9]), ("reject-new", [0, 1, 2])])
def test_max_length_drops_oldest_or_rejects_new(broker_factory, uid, overflow, kept):
    broker = broker_factory(config=f'[[policy]]\npattern = "capped/#"\nmax_length = 3\noverflow = "{overflow}"\n')
    worker = paho(broker.port, f"{uid}-w", clean=False)
    worker.subscribe("capped/#", 1)
    worker.disconnect()
    pub = paho(broker.port, f"{uid}-p")
    for i in range(10):
        pub.publish("capped/x", str(i).encode(), qos=1)
    back = paho(broker.port, f"{uid}-w", clean=False)
    assert [int(m.payload) for m in back.get_all(10, timeout=2)] == kept
    assert snapshot(broker)["messages"]["droppedTotal"]["max_length"] == 7
    back.disconnect()
    pub.disconnect()


def test_expired_messages_are_never_delivered_and_are_counted(broker_factory, uid):
    broker = broker_factory(config=POLICIES)
    worker = paho(broker.port, f"{uid}-w", clean=False)
    worker.subscribe("ttl/#", 1)
    worker.disconnect()
    pub = paho(broker.port, f"{uid}-p")
    for i in range(5):
        pub.publish("ttl/a", f"old-{i}".encode(), qos=1)
    time.sleep(1.5)  # past the 1 s TTL while the worker is away
    pub.publish("ttl/a", b"fresh", qos=1)
    back = paho(broker.port, f"{uid}-w", clean=False)
    got = back.get_all(6, timeout=2)
    assert [m.payload for m in got] == [b"fresh"]
    assert snapshot(broker)["messages"]["droppedTotal"]["expired"] == 5
    back.disconnect()
    pub.disconnect()


def test_persistent_consumer_that_never_acks_gets_a_message_dead_lettered(broker_factory, uid):
    broker = broker_factory(config=POLICIES)
    dlq = paho(broker.port, f"{uid}-dlq")
    dlq.subscribe("$DLQ/#", 1)
    attempts = 0
    for _ in range(3):
        raw = rawmqtt.RawClient(broker.port)
        raw.connect(f"{uid}-flaky", clean=False)
        if attempts == 0:
            raw.send(rawmqtt.subscribe(1, ("work/#", 1)))
            assert raw.read().type == 9
            paho(broker.port, f"{uid}-p").publish("work/job", b"poison", qos=1)
        try:
            packet = raw.read(timeout=2)
            if packet.type == 3:
                attempts += 1
        except Exception:
            pass
        raw.close()  # crashes before acknowledging
        time.sleep(0.2)
    assert attempts == 2, "delivered twice (the policy's limit), then no more"
    dead = dlq.get(timeout=5)
    assert dead.topic == "$DLQ/work/job" and dead.payload == b"poison"
    assert snapshot(broker)["messages"]["deadLetteredTotal"] == 1


def test_group_member_crashes_until_the_message_is_dead_lettered(broker_factory, uid):
    broker = broker_factory(config=POLICIES)
    dlq = paho(broker.port, f"{uid}-dlq")
    dlq.subscribe("$DLQ/#", 1)
    pub = paho(broker.port, f"{uid}-p")
    deliveries = 0
    for round_ in range(3):
        # Persistent members: the group outlives each crash (a group with no
        # member sessions left would go, and its messages with it).
        raw = rawmqtt.RawClient(broker.port)
        raw.connect(f"{uid}-m{round_}", clean=False)
        raw.send(rawmqtt.subscribe(1, ("$share/repairs/work/#", 1)))
        assert raw.read().type == 9
        if round_ == 0:
            pub.publish("work/repair", b"broken", qos=1)
        try:
            if raw.read(timeout=2).type == 3:
                deliveries += 1
        except Exception:
            pass
        raw.close()
        time.sleep(0.2)
    assert deliveries == 2
    dead = dlq.get(timeout=5)
    assert dead.topic == "$DLQ/work/repair" and dead.payload == b"broken"
    assert snapshot(broker)["messages"]["deadLetteredTotal"] == 1


@pytest.mark.parametrize("config, key", [
    ('[[policy]]\nmessage_ttl = 5\n', "policy[1].pattern"),
    ('[[policy]]\npattern = "a/#/b"\nmessage_ttl = 5\n', "policy[1].pattern"),
    ('[[policy]]\npattern = "a"\nttl = 5\n', "policy[1].ttl"),
    ('[[policy]]\npattern = "a"\nmax_delivery_attempts = 0\n', "policy[1].max_delivery_attempts"),
    ('[[policy]]\npattern = "a"\nmax_length = 5\noverflow = "drop-newest"\n', "policy[1].overflow"),
    ('[policy]\npattern = "a"\n', "policy"),
])
def test_bad_policies_name_the_key(broker_factory, config, key):
    with pytest.raises(RuntimeError) as error:
        broker_factory(config=config)
    assert key in str(error.value), str(error.value)
