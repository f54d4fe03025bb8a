"""Resource limits: queued messages per offline session, connect timeout."""
import time

import rawmqtt as raw
from mqttclients import paho


def test_offline_queue_keeps_first_max_queued_messages(broker_factory, uid):
    b = broker_factory("[limits]\nmax_queued_messages = 5\n")
    sub = paho(b.port, f"{uid}-slow", clean=False)
    sub.subscribe(f"{uid}/q", 1)
    sub.disconnect()
    pub = paho(b.port, f"{uid}-pub")
    for i in range(12):
        pub.publish(f"{uid}/q", str(i).encode(), qos=1)
    back = paho(b.port, f"{uid}-slow", clean=False)
    got = back.get_all(12, timeout=3)
    assert [m.payload for m in got] == [str(i).encode() for i in range(5)]


def test_connection_without_connect_is_closed_after_connect_timeout(broker_factory):
    b = broker_factory("[limits]\nconnect_timeout = 1\n")
    c = raw.RawClient(b.port)
    start = time.monotonic()
    assert c.closed_by_broker(timeout=5)
    assert 0.8 <= time.monotonic() - start <= 4


def test_small_inflight_window_still_delivers_everything_in_order(broker_factory, uid):
    b = broker_factory("[limits]\nmax_inflight_messages = 1\n")
    sub = paho(b.port, f"{uid}-sub")
    sub.subscribe(f"{uid}/w", 1)
    pub = paho(b.port, f"{uid}-pub")
    for i in range(200):
        pub.publish(f"{uid}/w", str(i).encode(), qos=1, wait=False)
    got = sub.get_all(200, timeout=20)
    assert [int(m.payload) for m in got] == list(range(200))
