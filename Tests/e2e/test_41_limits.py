"""Limits against abuse (issue 16, points 5 and 6), each taking effect
against real clients and each refusal counted: connections and new
connections a second per source address, a per-client publish rate
(throttled; DISCONNECT 0x96 for a 5.0 client that keeps at it), and
failed logins slowed per address without slowing anyone else."""
import json
import socket
import subprocess
import time
import urllib.request

import paho.mqtt.client as mqtt

import rawmqtt as r
from conftest import WHARF


def snapshot(broker):
    with urllib.request.urlopen(f"http://127.0.0.1:{broker.metrics_port}/api/v1/snapshot", timeout=5) as resp:
        return json.load(resp)


def rejected(broker, reason):
    return snapshot(broker)["connections"]["rejectedTotal"].get(reason, 0)


def connects(port, client_id, **kw):
    """True if a 3.1.1 CONNECT gets CONNACK 0; False if the socket is closed first."""
    try:
        c = r.RawClient(port, timeout=3)
        ok = c.connect(client_id, **kw)[1] == 0
        return c if ok else False
    except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError, socket.timeout, OSError):
        return False


def test_connections_per_address(broker_factory, uid):
    b = broker_factory("[limits]\nmax_connections_per_address = 3\n")
    held = [connects(b.port, f"{uid}-{i}") for i in range(3)]
    assert all(held)
    assert not connects(b.port, f"{uid}-4")
    assert rejected(b, "max_connections_per_address") == 1
    held.pop().close()
    time.sleep(0.2)
    assert connects(b.port, f"{uid}-5"), "a slot freed by a close is usable again"


def test_new_connection_rate_per_address(broker_factory, uid):
    b = broker_factory("[limits]\nconnection_rate_per_address = 5\n")
    results = []
    for i in range(20):
        c = connects(b.port, f"{uid}-{i}")
        results.append(bool(c))
        if c:
            c.close()
    # A second's worth (5) at once, then about 5 a second: most of 20 quick ones are refused.
    assert 5 <= sum(results) < 12, results
    assert rejected(b, "connection_rate_per_address") == results.count(False)
    time.sleep(1.1)
    assert connects(b.port, f"{uid}-later"), "the rate refills"


def paho_publisher(port, version, client_id):
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=version)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port, 30)
    client.loop_start()
    return client


def test_a_3_1_1_publisher_past_the_rate_is_slowed_not_dropped(broker_factory, uid):
    b = broker_factory("[limits]\nmax_publish_rate = 100\n")
    received = []
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{uid}-sub")
    sub.on_message = lambda c, u, m: received.append(m.payload)
    sub.connect("127.0.0.1", b.port)
    sub.loop_start()
    sub.subscribe(f"{uid}/t", 1)
    time.sleep(0.3)
    pub = paho_publisher(b.port, mqtt.MQTTv311, f"{uid}-pub")
    started = time.monotonic()
    infos = [pub.publish(f"{uid}/t", str(i), qos=1) for i in range(300)]
    for info in infos:
        info.wait_for_publish(timeout=20)
    elapsed = time.monotonic() - started
    # 300 at 100 a second with a burst of 100: about 2 s, never much less.
    assert elapsed > 1.5, f"300 publishes took {elapsed:.2f} s: not slowed to 100/s"
    deadline = time.monotonic() + 10
    while len(received) < 300 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [int(p) for p in received] == list(range(300)), "slowed, but nothing lost or reordered"
    assert snapshot(b)["messages"]["publisherThrottlesTotal"] >= 1
    assert snapshot(b)["connections"]["closedByServerTotal"]["publish_rate_exceeded"] == 0
    pub.disconnect()
    sub.disconnect()


def test_bytes_rate_slows_a_publisher(broker_factory, uid):
    b = broker_factory('[limits]\nmax_publish_bytes_rate = "20KiB"\n')
    pub = paho_publisher(b.port, mqtt.MQTTv311, f"{uid}-pub")
    started = time.monotonic()
    infos = [pub.publish(f"{uid}/t", b"x" * 1024, qos=1) for _ in range(60)]
    for info in infos:
        info.wait_for_publish(timeout=20)
    assert time.monotonic() - started > 1.5, "60 KiB at 20 KiB/s with a 20 KiB burst takes about 2 s"
    pub.disconnect()


def test_a_5_0_client_that_keeps_exceeding_gets_0x96(broker_factory, uid):
    b = broker_factory("[limits]\nmax_publish_rate = 20\n")
    c = r.RawClient(b.port, version=5)
    c.connect(f"{uid}-flood")
    reason = None
    deadline = time.monotonic() + 15
    try:
        while reason is None and time.monotonic() < deadline:
            c.send(b"".join(r.publish(f"{uid}/t", b"x", qos=0, version=5) for _ in range(50)))
            c.sock.settimeout(0.01)
            try:
                p = c.read(timeout=0.2)
                if p.type == r.DISCONNECT:
                    reason = p.disconnect_fields()[0]
            except socket.timeout:
                pass
    except (BrokenPipeError, ConnectionResetError) as error:
        raise AssertionError(f"closed without a readable DISCONNECT: {error}")
    assert reason == 0x96
    assert snapshot(b)["connections"]["closedByServerTotal"]["publish_rate_exceeded"] == 1


def test_failed_logins_are_slowed_per_address_and_counted(broker_factory, uid, tmp_path):
    pw = tmp_path / "passwd"
    subprocess.run([WHARF, "passwd", "--stdin", str(pw), "alice"], input="right\n", text=True, check=True,
                   capture_output=True, timeout=30)
    b = broker_factory(f'[auth]\npassword_file = "{pw}"\nallow_anonymous = false\n')
    times = []
    for i in range(4):
        started = time.monotonic()
        c = r.RawClient(b.port)
        assert c.connect(f"{uid}-bad{i}", username="alice", password="wrong")[1] == 4
        times.append(time.monotonic() - started)
    # 100, 200, 400, 800 ms: each failure from the address waits longer.
    assert times[3] > 0.6 and times[3] > 2 * times[0], times
    # While a failure waits, a good login is answered at once.
    slow = r.RawClient(b.port)
    slow.send(r.connect(f"{uid}-bad-again", username="alice", password="wrong"))
    started = time.monotonic()
    good = r.RawClient(b.port)
    assert good.connect(f"{uid}-good", username="alice", password="right")[1] == 0
    assert time.monotonic() - started < 0.5
    assert slow.read(timeout=5).connack()[1] == 4
    assert not connects(b.port, f"{uid}-nobody", username="nobody", password="x")
    assert rejected(b, "wrong_password") == 5
    assert rejected(b, "unknown_user") == 1
