"""$SYS topics, like Mosquitto's, from the same snapshot as /metrics."""
import time

from mqttclients import paho


def test_sys_topics_are_retained_and_follow_the_counters(broker_factory, uid):
    b = broker_factory(extra_args=["--sys-interval", "1"])
    pub = paho(b.port, f"{uid}-pub")
    for i in range(7):
        pub.publish(f"{uid}/t", b"x", qos=1)
    time.sleep(1.5)
    watcher = paho(b.port, f"{uid}-w")
    watcher.subscribe("$SYS/broker/#", 0)
    seen = {}
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and "$SYS/broker/messages/received" not in seen:
        m = watcher.get(timeout=5)
        seen[m.topic] = (m.payload.decode(), m.retain)
    assert seen["$SYS/broker/messages/received"] == ("7", True)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and "$SYS/broker/clients/connected" not in seen:
        m = watcher.get(timeout=5)
        seen[m.topic] = (m.payload.decode(), m.retain)
    assert int(seen["$SYS/broker/clients/connected"][0]) >= 1
    assert seen.get("$SYS/broker/version", ("wharf",))[0].startswith("wharf")


def test_hash_subscription_does_not_receive_sys(broker_factory, uid):
    b = broker_factory(extra_args=["--sys-interval", "1"])
    everything = paho(b.port, f"{uid}-all")
    everything.subscribe("#", 0)
    time.sleep(2.5)
    everything.nothing_for(0.1)


def test_sys_interval_zero_turns_them_off(broker_factory, uid):
    b = broker_factory(extra_args=["--sys-interval", "0"])
    time.sleep(0.5)
    watcher = paho(b.port, f"{uid}-w")
    watcher.subscribe("$SYS/#", 0)
    watcher.nothing_for(1.5)
