"""Resource limits from the [limits] section: max_connections,
max_packet_size, max_inflight_messages, max_queued_messages, connect_timeout."""
import time

import mqtt_raw as raw
from mqttclients import mosquitto_pub, paho


# ---------------------------------------------------------------- max_connections


def test_max_connections_refuses_with_code_3_and_counts_only_live_connections(broker, uid):
    b = broker("[limits]\nmax_connections = 3\n")
    live = []
    for i in range(3):
        c = raw.RawClient(b.port)
        assert c.connect(f"{uid}-{i}").connack() == (False, 0)
        live.append(c)
    for i in range(3):
        over = raw.RawClient(b.port)
        assert over.connect(f"{uid}-over{i}").connack() == (False, 3)
        assert over.wait_closed() == []
    # Refused connections do not use up slots; a closed one frees its slot.
    live[0].send(raw.DISCONNECT_BYTES)
    live[0].wait_closed()
    deadline = time.monotonic() + 2
    while True:
        c = raw.RawClient(b.port)
        code = c.connect(f"{uid}-again").connack()[1]
        if code == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert code == 0, "the slot of a disconnected client was never freed"
    for c in live[1:]:
        c.ping()


def test_mosquitto_pub_is_told_the_server_is_unavailable(broker, uid):
    b = broker("[limits]\nmax_connections = 1\n")
    holder = raw.RawClient(b.port)
    holder.connect(f"{uid}-holder")
    r = mosquitto_pub(b.port, f"{uid}/t", "x")
    assert r.returncode != 0
    assert "unavailable" in r.stderr.lower(), r.stderr


def test_reconnect_right_after_disconnect_at_capacity_is_accepted(broker, uid):
    """A client of a full broker sends DISCONNECT, sees the server close the
    connection, and connects again at once (a device restarting its
    session). Its old connection is gone, so its slot is free: the new
    CONNECT must be accepted, every time."""
    b = broker("[limits]\nmax_connections = 2\n")
    other = raw.RawClient(b.port)
    other.connect(f"{uid}-other")
    c = raw.RawClient(b.port)
    c.connect(f"{uid}-dev")
    refused = 0
    for _ in range(100):
        c.send(raw.DISCONNECT_BYTES)
        assert c.wait_closed() == []
        c = raw.RawClient(b.port)
        if c.connect(f"{uid}-dev").connack()[1] != 0:
            refused += 1
            time.sleep(0.2)
            c = raw.RawClient(b.port)
            assert c.connect(f"{uid}-dev").connack()[1] == 0
    assert refused == 0, f"{refused} of 100 immediate reconnects were refused with CONNACK 3"


# ---------------------------------------------------------------- max_packet_size


def test_max_packet_size_counts_the_whole_packet(broker, uid):
    """max_packet_size is the whole packet: fixed header + remaining length +
    body. A PUBLISH of exactly the limit passes; one byte more closes the
    connection without a reply."""
    limit = 1024
    b = broker(f"[limits]\nmax_packet_size = {limit}\n")
    sub = raw.RawClient(b.port)
    sub.connect(f"{uid}-sub")
    sub.subscribe(1, (f"{uid}/size", 1))
    topic = f"{uid}/size"
    header_and_topic = len(raw.publish(topic, b"", qos=1, pid=1)) + 1  # remaining length needs 2 bytes above 127
    exact = raw.publish(topic, b"a" * (limit - header_and_topic), qos=1, pid=1)
    assert len(exact) == limit
    pub = raw.RawClient(b.port)
    pub.connect(f"{uid}-pub")
    pub.send(exact)
    assert pub.expect(raw.PUBACK).pid == 1
    assert len(sub.expect(raw.PUBLISH).payload) == limit - header_and_topic
    over = raw.publish(topic, b"a" * (limit - header_and_topic + 1), qos=1, pid=2)
    assert len(over) == limit + 1
    pub.send(over)
    assert pub.wait_closed() == []


def test_paho_publish_over_the_limit_disconnects_that_client_only(broker, uid):
    b = broker("[limits]\nmax_packet_size = 4096\n")
    sub = paho(b.port, f"{uid}-sub")
    sub.subscribe(f"{uid}/#", 1)
    big = paho(b.port, f"{uid}-big")
    big.publish(f"{uid}/big", b"x" * 10_000, qos=1, wait=False)
    assert big.disconnected.wait(5), "the client that sent the oversize packet is disconnected"
    paho(b.port, f"{uid}-small").publish(f"{uid}/small", b"y" * 1000, qos=1)
    m = sub.get()
    assert (m.topic, len(m.payload)) == (f"{uid}/small", 1000)
    sub.assert_nothing_for(0.3)


# ---------------------------------------------------------------- max_inflight_messages


def test_max_inflight_messages_bounds_unacknowledged_deliveries(broker, uid):
    """With max_inflight_messages = 3, a subscriber that does not acknowledge
    gets 3 QoS 1 messages, no more; each PUBACK releases exactly one more, in
    order."""
    b = broker("[limits]\nmax_inflight_messages = 3\n")
    sub = raw.RawClient(b.port)
    sub.connect(f"{uid}-slow")
    sub.subscribe(1, (f"{uid}/w", 1))
    pub = raw.RawClient(b.port)
    pub.connect(f"{uid}-pub")
    for i in range(8):
        pub.publish_qos1(f"{uid}/w", str(i).encode(), pid=i + 1)
    first = [p for p in sub.read_all(quiet=0.5) if p.type == raw.PUBLISH]
    assert [p.payload for p in first] == [b"0", b"1", b"2"]
    sub.send(raw.ack(raw.PUBACK, first[0].pid))
    more = [p for p in sub.read_all(quiet=0.5) if p.type == raw.PUBLISH]
    assert [p.payload for p in more] == [b"3"]
    for p in first[1:] + more:
        sub.send(raw.ack(raw.PUBACK, p.pid))
    rest = []
    while len(rest) < 4:
        p = sub.expect(raw.PUBLISH)
        rest.append(p.payload)
        sub.send(raw.ack(raw.PUBACK, p.pid))
    assert rest == [b"4", b"5", b"6", b"7"]


def test_inflight_window_of_one_still_delivers_everything_in_order(broker, uid):
    b = broker("[limits]\nmax_inflight_messages = 1\n")
    sub = paho(b.port, f"{uid}-sub")
    sub.subscribe(f"{uid}/w", 2)
    pub = paho(b.port, f"{uid}-pub")
    for i in range(200):
        pub.publish(f"{uid}/w", str(i).encode(), qos=1 + i % 2, wait=False)
    got = sub.get_all(200, timeout=20)
    assert [int(m.payload) for m in got] == list(range(200))


# ---------------------------------------------------------------- max_queued_messages


def test_offline_session_gets_only_the_first_max_queued_messages(broker, uid):
    b = broker("[limits]\nmax_queued_messages = 5\n")
    sub = paho(b.port, f"{uid}-slow", clean=False)
    sub.subscribe(f"{uid}/q", 2)
    sub.disconnect()
    pub = paho(b.port, f"{uid}-pub")
    for i in range(12):
        pub.publish(f"{uid}/q", str(i).encode(), qos=1 + i % 2)
    back = raw.RawClient(b.port)
    assert back.connect(f"{uid}-slow", clean=False).connack() == (True, 0)
    got = []
    for p in back.read_all(quiet=1.0):
        if p.type == raw.PUBLISH:
            got.append((p.payload, p.qos))
            back.send(raw.ack(raw.PUBACK if p.qos == 1 else raw.PUBREC, p.pid))
    assert got == [(str(i).encode(), 1 + i % 2) for i in range(5)]
    # The session works normally afterwards.
    pub.publish(f"{uid}/q", b"live", qos=1)
    more = [p.payload for p in back.read_all(quiet=0.5) if p.type == raw.PUBLISH]
    assert more == [b"live"]


def test_queue_limit_does_not_drop_messages_for_an_online_subscriber_with_a_free_window(broker, uid):
    """max_queued_messages = 0: nothing is kept for offline clients. An online
    subscriber with an empty in-flight window is not "queued for", it must
    still get every message (README: the limit applies while offline or
    behind a full window)."""
    b = broker("[limits]\nmax_queued_messages = 0\n")
    sub = raw.RawClient(b.port)
    sub.connect(f"{uid}-sub")
    sub.subscribe(1, (f"{uid}/t", 1))
    pub = raw.RawClient(b.port)
    pub.connect(f"{uid}-pub")
    pub.publish_qos1(f"{uid}/t", b"acknowledged, so it must arrive", pid=1)
    got = [p.payload for p in sub.read_all(quiet=1.0) if p.type == raw.PUBLISH]
    assert got == [b"acknowledged, so it must arrive"]


def test_retained_messages_on_subscribe_are_not_cut_by_the_queue_limit(broker, uid):
    """3.3.1-6: on a new subscription the server MUST send the retained
    message of every matching topic. With max_queued_messages = 5 and an
    empty window of 20, all 10 retained messages must arrive."""
    b = broker("[limits]\nmax_queued_messages = 5\n")
    pub = raw.RawClient(b.port)
    pub.connect(f"{uid}-pub")
    for i in range(10):
        pub.publish_qos1(f"{uid}/r/{i}", str(i).encode(), pid=i + 1, retain=True)
    sub = raw.RawClient(b.port)
    sub.connect(f"{uid}-sub")
    sub.subscribe(1, (f"{uid}/r/+", 1))
    got = [p for p in sub.read_all(quiet=1.0) if p.type == raw.PUBLISH]
    assert sorted(int(p.payload) for p in got) == list(range(10)), f"got {len(got)} of 10 retained messages"


def test_a_stuck_subscriber_does_not_hold_up_the_publishers_other_traffic(broker, uid):
    """One subscriber is connected but never acknowledges (a hung device). A
    publisher sends it 1000 QoS 1 messages, then one message to another
    topic. With the default limits (20 in flight, 1000 queued) the stuck
    session's queue never overflows; the message to the other topic must
    reach its (healthy) subscriber within seconds, not wait behind a
    250 ms pause per message (README: "a stuck consumer cannot stall it for
    good")."""
    b = broker()
    stuck = raw.RawClient(b.port)
    stuck.connect(f"{uid}-stuck")
    stuck.subscribe(1, (f"{uid}/stuck", 1))
    healthy = raw.RawClient(b.port)
    healthy.connect(f"{uid}-healthy")
    healthy.subscribe(1, (f"{uid}/other", 1))
    pub = raw.RawClient(b.port)
    pub.connect(f"{uid}-pub")
    start = time.monotonic()
    pub.send(b"".join(raw.publish(f"{uid}/stuck", str(i).encode(), qos=1, pid=i + 1) for i in range(1000)))
    pub.send(raw.publish(f"{uid}/other", b"urgent", qos=1, pid=5000))
    try:
        p = healthy.read(timeout=10)
    except TimeoutError:
        raise AssertionError("the message to the other topic did not arrive within 10 s") from None
    assert p.payload == b"urgent"
    elapsed = time.monotonic() - start
    assert elapsed < 10, f"took {elapsed:.1f}s"


# ---------------------------------------------------------------- connect_timeout


def test_connection_without_connect_is_closed_after_connect_timeout(broker):
    b = broker("[limits]\nconnect_timeout = 1\n")
    idle = raw.RawClient(b.port)
    partial = raw.RawClient(b.port)
    partial.send(raw.connect("slow")[:6])
    start = time.monotonic()
    assert idle.wait_closed(timeout=5) == []
    assert partial.wait_closed(timeout=5) == []
    elapsed = time.monotonic() - start
    assert 0.8 <= elapsed <= 3.5, f"closed after {elapsed:.2f}s with connect_timeout = 1"


def test_connect_timeout_bounds_a_connect_that_is_dripped_forever(broker):
    """connect_timeout is the time a new connection has to send CONNECT. A
    client that keeps trickling bytes of a CONNECT it never finishes (a
    slowloris holding a connection slot) is still closed once that time is
    up, not kept open as long as it sends something."""
    b = broker("[limits]\nconnect_timeout = 1\n")
    c = raw.RawClient(b.port)
    start = time.monotonic()
    c.send(b"\x10\x64")  # CONNECT, 100 bytes follow... slowly
    closed_at = None
    for byte in raw.connect("slowloris")[2:] + bytes(100):
        time.sleep(0.3)
        try:
            c.send(bytes([byte]))
        except OSError:
            closed_at = time.monotonic() - start
            break
        if time.monotonic() - start > 4:
            break
    if closed_at is None:
        try:
            c.wait_closed(timeout=0.5)
            closed_at = time.monotonic() - start
        except AssertionError:
            pass
    assert closed_at is not None, "still open after 4 s with connect_timeout = 1"
    assert closed_at < 3.0, f"closed after {closed_at:.1f}s with connect_timeout = 1"


def test_connect_timeout_does_not_apply_once_connected(broker, uid):
    b = broker("[limits]\nconnect_timeout = 1\n")
    c = raw.RawClient(b.port)
    c.connect(f"{uid}-ok", keepalive=0)
    assert c.is_open_after(2.5)
    c.ping()
