"""Will messages (MQTT 3.1.1 sections 3.1.2.5 - 3.1.2.7, 3.14.4): published
when the network connection ends without DISCONNECT, never after one."""
import time

import mqtt_raw as raw
from mqttclients import paho


def test_will_on_abrupt_socket_close_with_retain(broker, uid):
    b = broker()
    watcher = paho(b.port, f"{uid}-w")
    watcher.subscribe(f"{uid}/will", 2)
    c = raw.RawClient(b.port)
    c.connect(f"{uid}-dying", will=(f"{uid}/will", b"gone", 1, True))
    c.close()  # no DISCONNECT
    m = watcher.get()
    assert (m.topic, m.payload, m.qos, m.retain) == (f"{uid}/will", b"gone", 1, False)
    late = paho(b.port, f"{uid}-late")
    late.subscribe(f"{uid}/will", 1)
    m = late.get()
    assert (m.payload, m.retain, m.qos) == (b"gone", True, 1), "3.1.2-17: a will with RETAIN is retained"


def test_will_without_retain_is_not_kept(broker, uid):
    b = broker()
    c = raw.RawClient(b.port)
    c.connect(f"{uid}-d", will=(f"{uid}/will", b"gone", 0, False))
    watcher = paho(b.port, f"{uid}-w")
    watcher.subscribe(f"{uid}/will", 0)
    c.close()
    assert watcher.get().payload == b"gone"
    late = paho(b.port, f"{uid}-late")
    late.subscribe(f"{uid}/will", 0)
    late.assert_nothing_for(0.5)


def test_will_qos_2_is_delivered_at_qos_2(broker, uid):
    b = broker()
    watcher = raw.RawClient(b.port)
    watcher.connect(f"{uid}-w")
    watcher.subscribe(1, (f"{uid}/will", 2))
    c = raw.RawClient(b.port)
    c.connect(f"{uid}-d", will=(f"{uid}/will", b"\x00binary\xff", 2, False))
    c.close()
    p = watcher.expect(raw.PUBLISH)
    assert (p.topic, p.payload, p.qos, p.retain) == (f"{uid}/will", b"\x00binary\xff", 2, False)


def test_no_will_after_disconnect(broker, uid):
    b = broker()
    watcher = paho(b.port, f"{uid}-w")
    watcher.subscribe(f"{uid}/will", 1)
    c = raw.RawClient(b.port)
    c.connect(f"{uid}-polite", will=(f"{uid}/will", b"gone", 1, True))
    c.send(raw.DISCONNECT_BYTES)
    assert c.wait_closed() == []
    watcher.assert_nothing_for(1.0)
    late = paho(b.port, f"{uid}-late")
    late.subscribe(f"{uid}/will", 1)
    late.assert_nothing_for(0.3)


def test_no_will_after_paho_disconnect(broker, uid):
    b = broker()
    watcher = paho(b.port, f"{uid}-w")
    watcher.subscribe(f"{uid}/status", 1)
    c = paho(b.port, f"{uid}-c", will=(f"{uid}/status", b"offline", 1, False))
    c.disconnect()
    watcher.assert_nothing_for(1.0)


def test_will_when_paho_socket_dies(broker, uid):
    b = broker()
    watcher = paho(b.port, f"{uid}-w")
    watcher.subscribe(f"{uid}/status", 1)
    dying = paho(b.port, f"{uid}-d", will=(f"{uid}/status", b"offline", 1, False))
    dying.client.loop_stop()
    dying.client.socket().close()
    assert watcher.get().payload == b"offline"


def test_will_on_keepalive_timeout(broker, uid):
    """3.1.2-8: the will is published when the server closes the connection
    because the keep-alive expired (1.5 x 2 s here)."""
    b = broker()
    watcher = paho(b.port, f"{uid}-w")
    watcher.subscribe(f"{uid}/will", 0)
    c = raw.RawClient(b.port)
    start = time.monotonic()
    c.connect(f"{uid}-silent", keepalive=2, will=(f"{uid}/will", b"timeout", 0, False))
    m = watcher.get(timeout=8)
    elapsed = time.monotonic() - start
    assert m.payload == b"timeout"
    assert 2.9 <= elapsed <= 5.0, f"will after {elapsed:.2f}s; 1.5 x 2 s keep-alive is 3 s"
    assert c.wait_closed(timeout=1) == []


def test_will_on_protocol_violation(broker, uid):
    """3.1.2-8: a connection the server closes for a protocol error publishes
    its will (here: a second CONNECT, 3.1.0-2)."""
    b = broker()
    watcher = paho(b.port, f"{uid}-w")
    watcher.subscribe(f"{uid}/will", 1)
    c = raw.RawClient(b.port)
    c.connect(f"{uid}-bad", will=(f"{uid}/will", b"protocol error", 1, False))
    c.send(raw.connect(f"{uid}-bad"))
    assert c.wait_closed() == []
    assert watcher.get().payload == b"protocol error"


def test_will_on_malformed_packet(broker, uid):
    b = broker()
    watcher = paho(b.port, f"{uid}-w")
    watcher.subscribe(f"{uid}/will", 1)
    c = raw.RawClient(b.port)
    c.connect(f"{uid}-bad", will=(f"{uid}/will", b"malformed", 1, False))
    c.send(raw.publish("a/+/wildcard", b"x"))
    assert c.wait_closed() == []
    assert watcher.get().payload == b"malformed"


def test_will_of_a_taken_over_connection(broker, uid):
    """The first connection is closed by the server, not by DISCONNECT, so
    its will is published (as Mosquitto does; README: "takeover")."""
    b = broker()
    watcher = paho(b.port, f"{uid}-w")
    watcher.subscribe(f"{uid}/will", 1)
    first = raw.RawClient(b.port)
    first.connect(f"{uid}-same", will=(f"{uid}/will", b"replaced", 1, False))
    second = raw.RawClient(b.port)
    assert second.connect(f"{uid}-same").connack() == (False, 0)
    assert first.wait_closed() == []
    assert watcher.get().payload == b"replaced"
    watcher.assert_nothing_for(0.3)


def test_will_is_published_once_only(broker, uid):
    b = broker()
    watcher = paho(b.port, f"{uid}-w")
    watcher.subscribe(f"{uid}/will", 1)
    c = raw.RawClient(b.port)
    c.connect(f"{uid}-d", will=(f"{uid}/will", b"once", 1, False))
    c.send(raw.connect("second connect"))  # protocol error: the server closes
    c.close()
    assert watcher.get().payload == b"once"
    watcher.assert_nothing_for(0.7)


def test_refused_connection_publishes_no_will(broker, uid):
    b = broker("[limits]\nmax_connections = 2\n")
    watcher = paho(b.port, f"{uid}-w")
    watcher.subscribe(f"{uid}/will", 1)
    holder = raw.RawClient(b.port)
    holder.connect(f"{uid}-h")
    refused = raw.RawClient(b.port)
    assert refused.connect(f"{uid}-r", will=(f"{uid}/will", b"never", 1, False)).connack()[1] == 3
    refused.close()
    watcher.assert_nothing_for(0.7)
