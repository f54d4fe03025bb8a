"""Durable storage keeps more than queued messages: consumer groups, delayed
wills, de-duplication ids, QoS 2 state both ways and dead letters survive kill -9; a storage
quota refuses new messages (0x97 for 5.0, a closed connection for 3.1.1) and
keeps what it acknowledged; a bad [storage] key is refused with its file and
key; a garbage tail on the newest segment is reported by `wharf storage
inspect` and cut by the next start.

Every broker here runs on a data directory of the test's own, is killed with
SIGKILL or stopped with SIGTERM on purpose, and restarted on the same
directory (a new port each time)."""
import os
import queue
import re
import socket
import subprocess
import time
import urllib.request

import pytest
from paho.mqtt.packettypes import PacketTypes

import rawmqtt
from conftest import WHARF, start_broker
from mqtt5clients import paho5, props, wharf_only
from mqttclients import paho

pytestmark = wharf_only  # Wharf's data directory, kill -9 recovery, quota and `wharf storage inspect`

QUOTA_EXCEEDED = 0x97


@pytest.fixture
def durable(tmp_path):
    """start(extra_args=(), config=None): a broker on this test's data directory.
    Brokers still running at the end are stopped with SIGTERM and must exit 0;
    ones the test killed with SIGKILL are not checked."""
    data = tmp_path / "data"
    started = []

    def start(extra_args=(), config=None):
        b = start_broker(tmp_path, config, ["--data-dir", str(data), *extra_args])
        started.append(b)
        return b

    start.data = data
    yield start
    failures = []
    for b in started:
        if b.proc.poll() is None:
            try:
                code = b.stop(timeout=15)
            except subprocess.TimeoutExpired:
                b.proc.kill()
                b.proc.wait(timeout=5)
                code = "timeout"
            if code != 0:
                failures.append(f"wharf exited with {code}\n{b.log()[-3000:]}")
    assert not failures, "\n".join(failures)


def kill9(broker):
    """SIGKILL, as a crash: no checkpoint, no flush, no goodbye to clients."""
    broker.proc.kill()
    broker.proc.wait(timeout=10)


def metrics(broker) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{broker.metrics_port}/metrics", timeout=5) as r:
        return r.read().decode()


def metric_value(text, name, labels=""):
    """The value of one series in Prometheus text format (None if absent). labels: e.g. 'reason="x"'."""
    pattern = re.escape(name) + (r"\{" + re.escape(labels) + r"\}" if labels else r"") + r" ([0-9.eE+-]+)$"
    m = re.search(pattern, text, re.MULTILINE)
    return float(m.group(1)) if m else None


def persistent_subscriber(port, client_id, topic, qos=1):
    """A 3.1.1 persistent session subscribed to topic, then offline."""
    sub = paho(port, client_id, clean=False)
    granted = sub.subscribe(topic, qos)
    assert [getattr(g, "value", g) for g in granted] == [qos], granted
    sub.disconnect()


def drain(port, client_id, expected, quiet=0.5, timeout=10.0):
    """Reconnects a 3.1.1 persistent session; (session present, the payloads it got):
    `expected` messages, then nothing more for `quiet` seconds."""
    c = paho(port, client_id, clean=False)
    try:
        got = [m.payload for m in c.get_all(expected, timeout=timeout)]
        try:
            while True:
                got.append(c.get(timeout=quiet).payload)
        except queue.Empty:
            pass
        return c.session_present, got
    finally:
        c.disconnect()


# 1. Consumer groups -----------------------------------------------------------------------------

def test_group_member_gets_messages_queued_for_it_across_kill9(durable, uid):
    topic, member = f"{uid}/jobs", f"{uid}-member"
    b = durable()
    persistent_subscriber(b.port, member, f"$share/g/{topic}", qos=1)
    pub = paho(b.port, f"{uid}-pub")
    sent = [f"job-{i}".encode() for i in range(20)]
    for p in sent:
        pub.publish(topic, p, qos=1)  # waits for each PUBACK
    pub.disconnect()
    kill9(b)

    b = durable()
    present, got = drain(b.port, member, len(sent))
    assert present is True, b.log()[-3000:]
    assert sorted(got) == sorted(sent), f"lost: {sorted(set(sent) - set(got))}\n{b.log()[-3000:]}"
    assert len(got) == len(sent), f"duplicates: {got}"



def test_session_ended_by_clean_start_stays_ended_after_kill9(durable, uid):
    """Clean start replaces a stored session; once CONNACK (session present 0)
    is out, a crash must not bring the old session or its queue back."""
    topic, client = f"{uid}/alerts", f"{uid}-panel"
    b = durable()
    persistent_subscriber(b.port, client, topic, qos=1)
    pub = paho(b.port, f"{uid}-pub")
    pub.publish(topic, b"queued for the old session", qos=1)
    pub.disconnect()
    fresh = rawmqtt.RawClient(b.port)
    assert fresh.connect(client, clean=True)[:2] == (False, 0)
    kill9(b)  # straight after CONNACK
    fresh.close()

    b = durable()
    present, got = drain(b.port, client, 0, quiet=1.0)
    assert present is False, "the session clean start ended came back after the crash"
    assert got == [], got


def test_session_expiry_counts_from_the_disconnect_across_a_restart(durable, uid):
    """A session expiring 2 s after its client left is gone after a restart that
    came 3 s later: the restart does not give it its whole interval again."""
    client, expiry = f"{uid}-sensor", 2
    b = durable()
    c = rawmqtt.RawClient(b.port, version=5)
    assert c.connect(client, clean=False, props=[(rawmqtt.SESSION_EXPIRY, expiry)])[1] == rawmqtt.SUCCESS
    assert c.subscribe(1, (f"{uid}/cmd", rawmqtt.subopts(qos=1))) == [1]
    c.send(rawmqtt.DISCONNECT_BYTES)
    c.close()
    left = time.monotonic()
    assert b.stop(timeout=15) == 0
    time.sleep(max(0.0, expiry + 1 - (time.monotonic() - left)))

    b = durable()
    c = rawmqtt.RawClient(b.port, version=5)
    present, code, _ = c.connect(client, clean=False, props=[(rawmqtt.SESSION_EXPIRY, expiry)])
    assert code == rawmqtt.SUCCESS
    assert present is False, "the session outlived its expiry interval because the broker restarted"
    c.send(rawmqtt.DISCONNECT_BYTES)
    c.close()


def test_session_whose_client_came_back_counts_its_expiry_from_the_restart(durable, uid):
    """A client that left and came back cancels the stored deadline: the broker
    then stops with it connected, and the session expires only its interval after
    the restart (the connection ended then)."""
    client, expiry = f"{uid}-sensor", 2
    b = durable()
    c = rawmqtt.RawClient(b.port, version=5)
    assert c.connect(client, clean=False, props=[(rawmqtt.SESSION_EXPIRY, expiry)])[1] == rawmqtt.SUCCESS
    c.send(rawmqtt.DISCONNECT_BYTES)
    c.close()
    c = rawmqtt.RawClient(b.port, version=5)
    assert c.connect(client, clean=False, props=[(rawmqtt.SESSION_EXPIRY, expiry)])[:2] == (True, rawmqtt.SUCCESS)
    kill9(b)  # CONNACK waited for the record that cancels the deadline
    c.close()
    time.sleep(expiry + 1)

    b = durable()
    c = rawmqtt.RawClient(b.port, version=5)
    present, code, _ = c.connect(client, clean=False, props=[(rawmqtt.SESSION_EXPIRY, expiry)])
    assert (present, code) == (True, rawmqtt.SUCCESS), b.log()[-3000:]
    c.send(rawmqtt.DISCONNECT_BYTES)
    c.close()

# 2. A delayed will ------------------------------------------------------------------------------

def test_delayed_will_pending_at_kill9_is_published_after_restart(durable, uid):
    will_topic, watcher = f"{uid}/will", f"{uid}-watcher"
    delay = 3
    b = durable()
    persistent_subscriber(b.port, watcher, will_topic, qos=1)

    dying = rawmqtt.RawClient(b.port, version=5)
    present, code, _ = dying.connect(
        f"{uid}-dying", clean=False, props=[(rawmqtt.SESSION_EXPIRY, 60)],
        will=(will_topic, b"gone", 1, False, [(rawmqtt.WILL_DELAY, delay)]))
    assert code == rawmqtt.SUCCESS
    dying.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    dying.close()  # no DISCONNECT: an RST, as from a crashed client
    dropped = time.monotonic()
    # Let the broker see the loss and record the pending will, well within the delay.
    time.sleep(1.0)
    assert time.monotonic() - dropped < delay - 1
    kill9(b)

    b = durable()
    restarted = time.monotonic()
    w = paho(b.port, watcher, clean=False)
    try:
        assert w.session_present is True
        m = w.get(timeout=delay + 6)
        arrived = time.monotonic()
        assert (m.topic, m.payload) == (will_topic, b"gone")
        assert arrived - dropped >= delay - 0.25, (
            f"will published {arrived - dropped:.2f} s after the drop, before its {delay} s delay")
        assert arrived - restarted <= delay + 5
        w.nothing_for(0.5)
    finally:
        w.disconnect()


# 3. Publisher de-duplication ---------------------------------------------------------------------

def test_dedup_id_remembered_across_kill9(durable, uid):
    topic, watcher = f"{uid}/orders", f"{uid}-watcher"
    msg_id = props(PacketTypes.PUBLISH, UserProperty=[("wharf-msg-id", f"{uid}-X")])
    b = durable()
    w = paho(b.port, watcher, clean=False)
    w.subscribe(topic, 1)
    pub = paho5(b.port, f"{uid}-pub")
    assert pub.publish(topic, b"order X", qos=1, properties=msg_id) == 0
    m = w.get(timeout=5)
    assert m.payload == b"order X"
    w.nothing_for(0.3)
    w.disconnect()
    pub.disconnect()
    kill9(b)

    b = durable()
    pub = paho5(b.port, f"{uid}-pub")
    # The repeat is acknowledged as usual (so a retrying publisher moves on)...
    assert pub.publish(topic, b"order X", qos=1, properties=msg_id) < 0x80
    # ...and a message with another id still goes through, to show the subscriber is fed.
    other = props(PacketTypes.PUBLISH, UserProperty=[("wharf-msg-id", f"{uid}-Y")])
    assert pub.publish(topic, b"order Y", qos=1, properties=other) == 0
    pub.disconnect()
    present, got = drain(b.port, watcher, 1, quiet=0.7)
    assert present is True
    assert got == [b"order Y"], f"after the restart the subscriber got {got}\n{b.log()[-3000:]}"


# 4. Inbound QoS 2 state --------------------------------------------------------------------------

def test_inbound_qos2_awaiting_pubrel_survives_kill9(durable, uid):
    topic, watcher, sender = f"{uid}/exactly-once", f"{uid}-watcher", f"{uid}-sender"
    b = durable()
    persistent_subscriber(b.port, watcher, topic, qos=2)

    c = rawmqtt.RawClient(b.port, version=5)
    assert c.connect(sender, clean=False, props=[(rawmqtt.SESSION_EXPIRY, 300)])[1] == rawmqtt.SUCCESS
    c.send(rawmqtt.publish(topic, b"once", qos=2, pid=7, version=5))
    pid, reason, _ = c.read_type(rawmqtt.PUBREC).ack_fields()
    assert (pid, reason) == (7, rawmqtt.SUCCESS)
    kill9(b)
    c.close()

    b = durable()
    c = rawmqtt.RawClient(b.port, version=5)
    present, code, _ = c.connect(sender, clean=False, props=[(rawmqtt.SESSION_EXPIRY, 300)])
    assert (present, code) == (True, rawmqtt.SUCCESS), b.log()[-3000:]
    c.send(rawmqtt.publish(topic, b"once", qos=2, pid=7, dup=True, version=5))
    pid, reason, _ = c.read_type(rawmqtt.PUBREC).ack_fields()
    assert (pid, reason) == (7, rawmqtt.SUCCESS)
    c.send(rawmqtt.ack(rawmqtt.PUBREL, 7))
    pid, reason, _ = c.read_type(rawmqtt.PUBCOMP).ack_fields()
    assert (pid, reason) == (7, rawmqtt.SUCCESS), "PUBCOMP 0x92 would mean the packet id was forgotten"
    c.send(rawmqtt.DISCONNECT_BYTES)
    c.close()

    present, got = drain(b.port, watcher, 1, quiet=0.7)
    assert present is True
    assert got == [b"once"], f"the subscriber got {got}\n{b.log()[-3000:]}"


# 5. Storage quota --------------------------------------------------------------------------------

def test_storage_quota_refuses_new_messages_and_keeps_acknowledged_ones(durable, uid):
    topic, watcher = f"{uid}/bulk", f"{uid}-watcher"
    args = ["--storage-quota", "200KiB"]
    config = "[limits]\nmax_queued_messages = 0\n"
    b = durable(args, config)
    persistent_subscriber(b.port, watcher, topic, qos=1)

    pub = paho5(b.port, f"{uid}-pub")
    accepted, refused_at = [], None
    for i in range(2000):
        payload = f"{i:06d}".encode().ljust(1024, b".")
        code = pub.publish(topic, payload, qos=1)
        if code == QUOTA_EXCEEDED:
            refused_at = i
            break
        assert code == 0, f"message {i}: PUBACK {code:#x}"
        accepted.append(payload)
    pub.disconnect()
    assert refused_at is not None, "2000 KiB published under a 200 KiB quota and never a PUBACK 0x97"
    assert 50 <= len(accepted) <= 250, f"{len(accepted)} 1 KiB messages accepted under a 200 KiB quota"

    text = metrics(b)
    assert metric_value(text, "wharf_storage_full") == 1, [l for l in text.splitlines() if "storage" in l]
    dropped = metric_value(text, "wharf_messages_dropped_total", 'reason="storage_full"')
    assert dropped is not None and dropped > 0, [l for l in text.splitlines() if "dropped" in l]

    # A 3.1.1 publisher has no reason code to say it: it is disconnected, never acknowledged.
    old = rawmqtt.RawClient(b.port)
    assert old.connect(f"{uid}-old")[:2] == (False, 0)
    old.send(rawmqtt.publish(topic, b"x" * 1024, qos=1, pid=1))
    seen = []
    try:
        while True:
            seen.append(old.read(timeout=5).type)
    except (ConnectionResetError, BrokenPipeError):
        pass
    except (socket.timeout, TimeoutError):
        pytest.fail(f"3.1.1 publisher still connected 5 s after a QoS 1 publish to a full store (saw {seen})")
    finally:
        old.close()
    assert rawmqtt.PUBACK not in seen

    assert b.stop() == 0, b.log()[-3000:]
    b = durable(args, config)
    present, got = drain(b.port, watcher, len(accepted), timeout=20)
    assert present is True
    missing = [p[:6].decode() for p in accepted if p not in set(got)]
    assert missing == [], f"{len(missing)} acknowledged messages lost: {missing[:20]}\n{b.log()[-3000:]}"


# 6. A bad [storage] key --------------------------------------------------------------------------

def test_bad_fsync_in_config_file_is_refused_with_file_key_and_values(tmp_path):
    config = tmp_path / "bad-storage.toml"
    config.write_text('[storage]\nfsync = "sometimes"\n')
    out = subprocess.run([WHARF, "serve", "--config", str(config), "--bind", "127.0.0.1", "--port", "0",
                          "--metrics-port", "0", "--data-dir", str(tmp_path / "data")],
                         capture_output=True, text=True, timeout=20)
    assert out.returncode != 0, out.stdout
    assert "listening on" not in out.stdout
    err = out.stderr
    assert "bad-storage.toml" in err, err
    assert "storage.fsync" in err, err
    for accepted in ("always", "never", "every"):
        assert accepted in err, err
    assert "sometimes" in err, err


# 7. A garbage tail -------------------------------------------------------------------------------

def test_garbage_tail_is_reported_by_inspect_and_cut_on_start(durable, uid):
    topic, watcher = f"{uid}/kept", f"{uid}-watcher"
    b = durable()
    persistent_subscriber(b.port, watcher, topic, qos=1)
    pub = paho(b.port, f"{uid}-pub")
    sent = [f"kept-{i}".encode() for i in range(3)]
    for p in sent:
        pub.publish(topic, p, qos=1)
    pub.disconnect()
    assert b.stop() == 0, b.log()[-3000:]

    segments = sorted(p for p in durable.data.iterdir() if re.fullmatch(r"\d{20}\.log", p.name))
    assert segments, list(durable.data.iterdir())
    newest = segments[-1]
    size = newest.stat().st_size
    with newest.open("ab") as f:
        f.write(os.urandom(37))

    inspect = subprocess.run([WHARF, "storage", "inspect", str(durable.data)],
                             capture_output=True, text=True, timeout=30)
    assert inspect.returncode == 0, inspect.stderr
    problems = [l for l in inspect.stdout.splitlines() if l.startswith("problem")]
    assert len(problems) == 1, inspect.stdout
    assert newest.name in problems[0] and f"offset {size}" in problems[0], problems[0]
    assert "37 bytes" in problems[0], problems[0]
    assert newest.stat().st_size == size + 37, "inspect is read-only"

    b = durable()
    log = b.log()
    cut = [l for l in log.splitlines() if newest.name in l and "cut" in l]
    assert cut and "37 bytes" in cut[0] and f"offset {size}" in cut[0], log[-3000:]
    assert newest.stat().st_size == size
    present, got = drain(b.port, watcher, len(sent))
    assert present is True
    assert got == sent, f"{got}\n{b.log()[-3000:]}"


# 8. Outbound QoS 2 past PUBREC ------------------------------------------------------------------

def test_outbound_qos2_past_pubrec_resumes_with_pubrel_after_kill9(durable, uid):
    """The broker delivered at QoS 2, the client sent PUBREC: the message is the
    client's now. After a crash the broker must resume with PUBREL under the same
    packet id (5.0 section 4.3.3), not send the PUBLISH again."""
    topic, reader = f"{uid}/orders", f"{uid}-reader"
    b = durable()
    c = rawmqtt.RawClient(b.port, version=5)
    assert c.connect(reader, clean=False, props=[(rawmqtt.SESSION_EXPIRY, 300)])[1] == rawmqtt.SUCCESS
    assert c.subscribe(1, (topic, rawmqtt.subopts(qos=2))) == [2]
    pub = rawmqtt.RawClient(b.port, version=5)
    assert pub.connect(f"{uid}-pub")[1] == rawmqtt.SUCCESS
    assert pub.publish_acked(topic, b"order 1", qos=2, pid=1)[0] == rawmqtt.SUCCESS
    _, pid, _, payload, _ = c.message(ack_it=False)
    assert payload == b"order 1"
    c.send(rawmqtt.ack(rawmqtt.PUBREC, pid))
    # The broker sends PUBREL only once the release is on disk, so no wait is needed.
    assert c.read_type(rawmqtt.PUBREL).ack_fields()[0] == pid
    kill9(b)
    c.close()

    b = durable()
    c = rawmqtt.RawClient(b.port, version=5)
    present, code, _ = c.connect(reader, clean=False, props=[(rawmqtt.SESSION_EXPIRY, 300)])
    assert (present, code) == (True, rawmqtt.SUCCESS), b.log()[-3000:]
    first = c.read(timeout=5)
    assert first.type == rawmqtt.PUBREL, f"expected PUBREL {pid}, got {first}"
    assert first.ack_fields()[0] == pid
    c.send(rawmqtt.ack(rawmqtt.PUBCOMP, pid))
    with pytest.raises(socket.timeout):
        extra = c.read(timeout=0.7)
        pytest.fail(f"the delivered message came again: {extra}")
    c.send(rawmqtt.DISCONNECT_BYTES)
    c.close()



def test_group_message_past_pubrec_stays_with_its_member_after_kill9(durable, uid):
    """A consumer group's QoS 2 message whose member sent PUBREC belongs to that
    member (5.0 section 4.8.2): after a crash the member gets PUBREL for it, and
    no other member of the group gets the message."""
    topic, shared = f"{uid}/jobs", f"$share/workers/{uid}/jobs"
    first, second = f"{uid}-worker-1", f"{uid}-worker-2"
    b = durable()
    w1 = rawmqtt.RawClient(b.port, version=5)
    assert w1.connect(first, clean=False, props=[(rawmqtt.SESSION_EXPIRY, 300)])[1] == rawmqtt.SUCCESS
    assert w1.subscribe(1, (shared, rawmqtt.subopts(qos=2))) == [2]
    pub = rawmqtt.RawClient(b.port, version=5)
    assert pub.connect(f"{uid}-pub")[1] == rawmqtt.SUCCESS
    assert pub.publish_acked(topic, b"job 1", qos=2, pid=1)[0] == rawmqtt.SUCCESS
    _, pid, _, payload, _ = w1.message(ack_it=False)
    assert payload == b"job 1"
    w1.send(rawmqtt.ack(rawmqtt.PUBREC, pid))
    # PUBREL comes once the hand-over to this member is on disk.
    assert w1.read_type(rawmqtt.PUBREL).ack_fields()[0] == pid
    w2 = rawmqtt.RawClient(b.port, version=5)
    assert w2.connect(second, clean=False, props=[(rawmqtt.SESSION_EXPIRY, 300)])[1] == rawmqtt.SUCCESS
    assert w2.subscribe(1, (shared, rawmqtt.subopts(qos=2))) == [2]
    kill9(b)
    w1.close()
    w2.close()

    b = durable()
    w2 = rawmqtt.RawClient(b.port, version=5)
    present, code, _ = w2.connect(second, clean=False, props=[(rawmqtt.SESSION_EXPIRY, 300)])
    assert (present, code) == (True, rawmqtt.SUCCESS), b.log()[-3000:]
    with pytest.raises(socket.timeout):
        extra = w2.read(timeout=1.0)
        pytest.fail(f"another member got the message its first member had taken: {extra}")
    w1 = rawmqtt.RawClient(b.port, version=5)
    present, code, _ = w1.connect(first, clean=False, props=[(rawmqtt.SESSION_EXPIRY, 300)])
    assert (present, code) == (True, rawmqtt.SUCCESS)
    resumed = w1.read(timeout=5)
    assert resumed.type == rawmqtt.PUBREL and resumed.ack_fields()[0] == pid, f"expected PUBREL {pid}, got {resumed}"
    w1.send(rawmqtt.ack(rawmqtt.PUBCOMP, pid))
    with pytest.raises(socket.timeout):
        extra = w1.read(timeout=0.7)
        pytest.fail(f"the completed message came again: {extra}")
    for c in (w1, w2):
        c.send(rawmqtt.DISCONNECT_BYTES)
        c.close()


# 9. Dead letters ----------------------------------------------------------------------------------

def test_dead_letters_waiting_for_their_subscriber_survive_kill9(durable, uid):
    """A message refused (5.0 PUBACK 0x80) once too often goes to $DLQ/<topic>; a
    persistent $DLQ subscriber that is away gets it after a crash and restart,
    with the user properties saying why."""
    config = f'[[policy]]\npattern = "{uid}/jobs/#"\nmax_delivery_attempts = 1\n'
    topic, auditor = f"{uid}/jobs/7", f"{uid}-auditor"
    b = durable(config=config)
    persistent_subscriber(b.port, auditor, f"$DLQ/{uid}/jobs/#")
    worker = rawmqtt.RawClient(b.port, version=5)
    assert worker.connect(f"{uid}-worker")[1] == rawmqtt.SUCCESS
    assert worker.subscribe(1, (f"{uid}/jobs/#", rawmqtt.subopts(qos=1))) == [1]
    pub = rawmqtt.RawClient(b.port, version=5)
    assert pub.connect(f"{uid}-pub")[1] == rawmqtt.SUCCESS
    assert pub.publish_acked(topic, b"job 7", qos=1, pid=1)[0] == rawmqtt.SUCCESS
    _, pid, _, payload, _ = worker.message(ack_it=False)
    assert payload == b"job 7"
    worker.send(rawmqtt.ack(rawmqtt.PUBACK, pid, reason=0x80))  # refused: no attempts left
    time.sleep(0.5)
    kill9(b)
    worker.close()

    b = durable(config=config)
    c = rawmqtt.RawClient(b.port, version=5)
    present, code, _ = c.connect(auditor, clean=False, props=[(rawmqtt.SESSION_EXPIRY, 300)])
    assert (present, code) == (True, rawmqtt.SUCCESS), b.log()[-3000:]
    got_topic, _, props, payload, _ = c.message()
    assert (got_topic, payload) == (f"$DLQ/{topic}", b"job 7")
    user = dict(props.user)
    assert user.get("wharf-original-topic") == topic and user.get("wharf-delivery-attempts") == "1", user
    c.send(rawmqtt.DISCONNECT_BYTES)
    c.close()
