"""Will messages (3.1.1 section 3.1.2.5): on abnormal close only."""
import time

import rawmqtt as raw
from mqttclients import paho


def test_will_published_on_abrupt_close_with_retain(broker, uid):
    watcher = paho(broker.port, f"{uid}-w")
    watcher.subscribe(f"{uid}/will", 1)
    c = raw.RawClient(broker.port)
    c.connect(f"{uid}-dying", will=(f"{uid}/will", b"gone", 1, True))
    c.close()  # no DISCONNECT
    m = watcher.get()
    assert (m.topic, m.payload, m.qos) == (f"{uid}/will", b"gone", 1)
    late = paho(broker.port, f"{uid}-late")
    late.subscribe(f"{uid}/will", 1)
    m = late.get()
    assert (m.payload, m.retain) == (b"gone", True), "a retained will is kept"


def test_no_will_after_disconnect(broker, uid):
    watcher = paho(broker.port, f"{uid}-w")
    watcher.subscribe(f"{uid}/will", 1)
    c = raw.RawClient(broker.port)
    c.connect(f"{uid}-polite", will=(f"{uid}/will", b"gone", 1, False))
    c.send(raw.DISCONNECT_BYTES)
    assert c.closed_by_broker()
    watcher.nothing_for(1.0)


def test_will_on_keepalive_timeout_after_one_and_a_half_periods(broker, uid):
    watcher = paho(broker.port, f"{uid}-w")
    watcher.subscribe(f"{uid}/will", 0)
    c = raw.RawClient(broker.port)
    start = time.monotonic()
    c.connect(f"{uid}-silent", keepalive=2, will=(f"{uid}/will", b"timeout", 0, False))
    m = watcher.get(timeout=8)
    elapsed = time.monotonic() - start
    assert m.payload == b"timeout"
    assert 2.5 <= elapsed <= 6, f"closed after {elapsed:.1f}s; 1.5 x 2 s keep-alive is 3 s"
    assert c.closed_by_broker(timeout=1)


def test_will_via_paho_when_socket_dies(broker, uid):
    watcher = paho(broker.port, f"{uid}-w")
    watcher.subscribe(f"{uid}/status", 1)
    dying = paho(broker.port, f"{uid}-d", will=(f"{uid}/status", b"offline", 1, False))
    dying.client.loop_stop()
    dying.client.socket().close()
    assert watcher.get().payload == b"offline"
