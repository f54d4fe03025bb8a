"""A subscriber that stays connected but never acknowledges must not hold its
publishers back for good: after one pause without progress the broker stops
waiting for it, keeps the other subscribers fed, and counts what it drops."""
import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

import rawmqtt
from mqttclients import paho

MESSAGES = 3000


def dropped_queue_full(broker):
    with urllib.request.urlopen(f"http://127.0.0.1:{broker.metrics_port}/metrics", timeout=5) as r:
        for family in text_string_to_metric_families(r.read().decode()):
            for s in family.samples:
                if s.name == "wharf_messages_dropped_total" and s.labels.get("reason") == "queue_full":
                    return s.value
    return None


def test_stuck_subscriber_does_not_stall_publisher(broker_factory, uid):
    broker = broker_factory()  # max_queued_messages = 1000: pauses start at 750
    topic = f"{uid}/feed"
    stuck = rawmqtt.RawClient(broker.port)
    assert stuck.connect(f"{uid}-stuck")[:2] == (False, 0)
    stuck.send(rawmqtt.subscribe(1, (topic, 1)))
    assert stuck.read().type == 9  # SUBACK; from here on it never reads or acknowledges again
    healthy = paho(broker.port, f"{uid}-healthy")
    healthy.subscribe(topic, 1)
    publisher = paho(broker.port, f"{uid}-pub")

    start = time.monotonic()
    for i in range(MESSAGES):
        publisher.publish(topic, str(i).encode(), qos=1, wait=False)
    # Held for the stuck one at 250 ms a message from 750 to 1000 queued,
    # this would take over a minute; released after one pause, about a second.
    got = healthy.get_all(MESSAGES, timeout=20)
    elapsed = time.monotonic() - start
    assert len(got) == MESSAGES, f"healthy subscriber got {len(got)} of {MESSAGES} in {elapsed:.1f} s"
    assert [int(m.payload) for m in got] == list(range(MESSAGES)), "order kept"
    # The stuck subscriber holds 20 in flight and 1000 queued; the rest is dropped and counted.
    assert dropped_queue_full(broker) == MESSAGES - 1000 - 20
    stuck.close()
    healthy.disconnect()
    publisher.disconnect()
