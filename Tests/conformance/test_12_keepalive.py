"""Keep-alive (MQTT 3.1.1 section 3.1.2.10): with keep-alive K > 0 the
server closes a connection that sends no control packet for 1.5 x K; any
packet from the client restarts the clock; K = 0 turns it off; the
broker's own sends do not count."""
import time

import mqtt_raw as raw
from mqttclients import paho


def test_silent_client_is_closed_after_one_and_a_half_keepalives(broker, uid):
    b = broker()
    c = raw.RawClient(b.port)
    c.connect(f"{uid}-k1", keepalive=1)
    start = time.monotonic()
    assert c.wait_closed(timeout=5) == [], "closed without a packet"
    elapsed = time.monotonic() - start
    assert 1.4 <= elapsed <= 2.6, f"closed after {elapsed:.2f}s; 1.5 x 1 s is 1.5 s"


def test_client_is_not_closed_between_one_and_one_and_a_half_keepalives(broker, uid):
    """A client that pings a little after K (network delay) is within 1.5 x K
    and must be answered, and the clock restarts from that ping."""
    b = broker()
    c = raw.RawClient(b.port)
    c.connect(f"{uid}-k2", keepalive=2)
    time.sleep(2.6)  # 1.3 x K
    c.ping()
    start = time.monotonic()
    assert c.wait_closed(timeout=6) == []
    elapsed = time.monotonic() - start
    assert 2.6 <= elapsed <= 4.0, f"closed {elapsed:.2f}s after the last ping; expected ~3 s"


def test_any_packet_restarts_the_clock(broker, uid):
    b = broker()
    c = raw.RawClient(b.port)
    c.connect(f"{uid}-k3", keepalive=1)
    for i in range(4):  # 4 x 0.8 s = 3.2 s, more than 2 x 1.5 s
        time.sleep(0.8)
        c.send(raw.publish(f"{uid}/alive", str(i).encode()))
    c.ping()


def test_the_brokers_own_traffic_does_not_keep_a_silent_client_alive(broker, uid):
    """The subscriber receives a QoS 0 message every 0.3 s but never sends
    anything: it is still closed after 1.5 x K."""
    b = broker()
    sub = raw.RawClient(b.port)
    sub.connect(f"{uid}-quiet", keepalive=1)
    sub.subscribe(1, (f"{uid}/feed", 0))
    start = time.monotonic()
    pub = raw.RawClient(b.port)
    pub.connect(f"{uid}-feeder", keepalive=0)
    closed_at = None
    while time.monotonic() - start < 5:
        pub.send(raw.publish(f"{uid}/feed", b"tick"))
        try:
            while True:
                sub.read(timeout=0.3)
        except TimeoutError:
            continue
        except raw.Closed:
            closed_at = time.monotonic() - start
            break
    assert closed_at is not None, "a client that sends nothing was kept open by incoming messages"
    assert closed_at <= 2.8, f"closed after {closed_at:.2f}s"


def test_bytes_of_a_packet_that_never_completes_do_not_count_as_activity(broker, uid):
    """3.1.2-24 speaks of Control Packets: a client that trickles the bytes
    of a PUBLISH it never finishes has sent no control packet, so it is
    closed 1.5 x K after its last complete packet."""
    b = broker()
    c = raw.RawClient(b.port)
    c.connect(f"{uid}-trickle", keepalive=1)
    start = time.monotonic()
    c.send(b"\x30" + raw.varint(1000))  # a PUBLISH of 1000 bytes, sent one byte at a time
    closed_at = None
    while time.monotonic() - start < 4.5:
        time.sleep(0.3)
        try:
            c.send(b"x")
        except OSError:
            closed_at = time.monotonic() - start
            break
    if closed_at is None:
        try:
            c.wait_closed(timeout=0.3)
            closed_at = time.monotonic() - start
        except AssertionError:
            pass
    assert closed_at is not None, "a half-sent packet kept the connection alive for 4.5 s (keep-alive 1 s)"
    assert closed_at < 3.0, f"closed after {closed_at:.1f}s"


def test_keepalive_zero_is_never_timed_out(broker, uid):
    """K = 0 turns the mechanism off: not even the connect timeout (1 s here)
    may close the connection once CONNECT was accepted."""
    b = broker("[limits]\nconnect_timeout = 1\n")
    c = raw.RawClient(b.port)
    c.connect(f"{uid}-k0", keepalive=0)
    assert c.is_open_after(3.5)
    c.ping()


def test_paho_keeps_its_connection_alive_with_pings(broker, uid):
    b = broker()
    c = paho(b.port, f"{uid}-paho", keepalive=1)
    time.sleep(3.5)
    assert not c.disconnected.is_set(), "paho's PINGREQs did not keep the connection"
    c.subscribe(f"{uid}/t", 1)
    c.publish(f"{uid}/t", b"still connected", qos=1)
    assert c.get().payload == b"still connected"


def test_keepalive_timeout_of_a_persistent_session_keeps_its_messages(broker, uid):
    b = broker()
    c = raw.RawClient(b.port)
    c.connect(f"{uid}-kp", keepalive=1, clean=False)
    c.subscribe(1, (f"{uid}/kp", 1))
    assert c.wait_closed(timeout=5) == []
    pub = raw.RawClient(b.port)
    pub.connect(f"{uid}-pub")
    pub.publish_qos1(f"{uid}/kp", b"while timed out", pid=1)
    again = raw.RawClient(b.port)
    assert again.connect(f"{uid}-kp", clean=False).connack() == (True, 0)
    assert again.expect(raw.PUBLISH).payload == b"while timed out"
