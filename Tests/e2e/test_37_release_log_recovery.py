"""Issue 15: the on-disk format must not change. An existing data directory
recovers unchanged: the broker under test starts on a copy of a data
directory written by the released broker (fixtures/release-log: main at
f0bf38f, see its generate.py) and every kind of durable state in it is
checked as a user would see it.

The fixture holds a checkpoint (run 1 stopped with SIGTERM) followed by
plain records (run 2, killed with SIGKILL); each kind of state exists in
both forms ("cp" and "tail" in the names). Times in the log are wall-clock
(Unix nanoseconds), so most tests see it as it is, written long ago: what
was due is overdue, short expiries have passed, de-duplication ids are out
of their window. One test instead starts the broker with its wall clock set
to one second after the kill (an LD_PRELOAD shim compiled here: a restart
straight after the old release stopped, as an upgrade does) and checks what
must still be pending then: the de-duplication ids, the will due 3 s later,
the session and messages with a 20-30 s life."""
import datetime
import hashlib
import json
import pathlib
import re
import shutil
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

pytestmark = wharf_only  # Wharf's own data directory and `wharf storage inspect`

FIXTURE = pathlib.Path(__file__).resolve().parent / "fixtures" / "release-log"
MANIFEST = json.loads((FIXTURE / "fixture.json").read_text())
CONFIG = (FIXTURE / "wharf.toml").read_text()
TIMES, DURATIONS, PIDS = MANIFEST["times"], MANIFEST["durations"], MANIFEST["packet_ids"]
FOREVER, DECADE = 0xFFFFFFFF, DURATIONS["decade"]


def copy_fixture(tmp_path) -> pathlib.Path:
    data = tmp_path / "data"
    shutil.copytree(FIXTURE / "data", data)
    return data


def start_on(tmp_path, data, monkeypatch=None, wall_clock_at=None, shim=None):
    """The broker under test on `data`, with the fixture's configuration. With
    wall_clock_at (Unix seconds), its wall clock starts there (the shim)."""
    if wall_clock_at is not None:
        monkeypatch.setenv("LD_PRELOAD", str(shim))
        monkeypatch.setenv("WHARF_TEST_WALL_OFFSET_NS", str(int((wall_clock_at - time.time()) * 1e9)))
    try:
        return start_broker(tmp_path, CONFIG, ["--data-dir", str(data)])
    finally:
        if wall_clock_at is not None:
            monkeypatch.delenv("LD_PRELOAD")
            monkeypatch.delenv("WHARF_TEST_WALL_OFFSET_NS")


def aged():
    """The fixture as an old log: everything short-lived has run out. Only right
    after generate.py ran can it be younger than that; then wait."""
    needed = max(DURATIONS["short_session"], DURATIONS["short_expiry"], TIMES["will_due_at"] - TIMES["killed_at"]) + 10
    age = time.time() - TIMES["killed_at"]
    if age < needed:
        time.sleep(needed - age)


@pytest.fixture
def recovered(tmp_path):
    """The broker under test on a fresh copy of the fixture (real clock); it must
    exit 0 on SIGTERM afterwards."""
    aged()
    b = start_on(tmp_path, copy_fixture(tmp_path))
    yield b
    code = b.stop(timeout=15)
    assert code == 0, f"wharf exited with {code}\n{b.log()[-3000:]}"


def metrics(broker) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{broker.metrics_port}/metrics", timeout=5) as r:
        return r.read().decode()


def metric_value(text, name):
    m = re.search(rf"^{re.escape(name)} ([0-9.eE+-]+)$", text, re.MULTILINE)
    return float(m.group(1)) if m else None


def drain_paho(c, expected, quiet=0.6, timeout=10.0):
    """`expected` messages, then whatever else comes before `quiet` s of silence."""
    got = c.get_all(expected, timeout=timeout)
    while True:
        try:
            got.append(c.get(timeout=quiet))
        except Exception:  # queue.Empty
            return got


def user_props(m):
    return list(getattr(m.properties, "UserProperty", []) or [])


class Got:
    """A PUBLISH as it came on the wire (its Props empty in 3.1.1)."""

    def __init__(self, p):
        self.qos, self.dup, self.retain = p.qos, p.dup, p.retain
        self.topic, self.pid, self.props, self.payload = p.publish_fields()

    def __repr__(self):
        return f"Got({self.topic!r}, {self.payload!r}, qos={self.qos}, pid={self.pid}, dup={self.dup})"


def take(c, expected, quiet=0.7, timeout=10.0):
    """Receives as a subscriber does, in wire order (the client's version decodes
    the packets): acknowledges each PUBLISH (PUBACK, or PUBREC and then PUBCOMP
    for the PUBREL; the short form, the same in 3.1.1 and 5.0) and reads until
    `expected` came and then `quiet` s passed with nothing. Returns (PUBLISHes,
    other packets)."""
    publishes, others = [], []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        wait = quiet if len(publishes) >= expected else max(0.01, deadline - time.monotonic())
        try:
            p = c.read(timeout=wait)
        except (socket.timeout, TimeoutError):
            break
        if p.type == rawmqtt.PUBLISH:
            g = Got(p)
            publishes.append(g)
            if p.qos == 1:
                c.send(rawmqtt.ack(rawmqtt.PUBACK, g.pid))
            elif p.qos == 2:
                c.send(rawmqtt.ack(rawmqtt.PUBREC, g.pid))
        elif p.type == rawmqtt.PUBREL:
            c.send(rawmqtt.ack(rawmqtt.PUBCOMP, int.from_bytes(p.body[:2], "big")))
        else:
            others.append(p)
    return publishes, others


def raw5(port, client_id, expiry=FOREVER):
    """A raw 5.0 client resuming its session; (client, session present)."""
    c = rawmqtt.RawClient(port, version=5)
    present, code, _ = c.connect(client_id, clean=False, props=[(rawmqtt.SESSION_EXPIRY, expiry)])
    assert code == rawmqtt.SUCCESS, code
    return c, present


def raw3(port, client_id):
    """A raw 3.1.1 client resuming its session; (client, session present)."""
    c = rawmqtt.RawClient(port)
    present, code, _ = c.connect(client_id, clean=False)
    assert code == 0, code
    return c, present


def read_all(c, quiet=0.7, limit=10.0):
    """Every packet a raw client gets until `quiet` s of silence."""
    out, deadline = [], time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            out.append(c.read(timeout=quiet))
        except (socket.timeout, TimeoutError):
            return out
    return out


# 1. What the log holds, read by `wharf storage inspect` --------------------------------------------

def parse_inspect(text):
    got = {"sessions": {}, "groups": {}, "retained": [], "wills": [], "problems": []}
    m = re.search(r"^data directory .*: (\d+) segments, (\d+) bytes, (\d+) records", text, re.M)
    assert m, text
    got["segments"], got["bytes"], got["records"] = map(int, m.groups())
    m = re.search(r"^live: (\d+) messages", text, re.M)
    assert m, text
    got["live_messages"] = int(m.group(1))
    section = None
    for line in text.splitlines():
        if m := re.match(r"session (\S+) \(queue \d+, .*\): (\d+) messages, (\d+) QoS 2 in flight, (\d+) inbound", line):
            got["sessions"][m.group(1)] = {"messages": int(m.group(2)), "inflight": int(m.group(3)),
                                           "inbound": int(m.group(4))}
        elif m := re.match(r"group (\S+) \(queue \d+\): (\d+) messages", line):
            got["groups"][m.group(1)] = int(m.group(2))
        elif line.startswith("problem"):
            got["problems"].append(line)
        elif line.startswith("retained:"):
            section = "retained"
        elif line.startswith("delayed wills:"):
            section = "wills"
        elif m := re.match(r"de-duplication ids: (\d+)", line):
            got["dedup"] = int(m.group(1))
            section = None
        elif section and line.startswith("  "):
            got[section].append(line.strip())
    got["retained"].sort()
    got["wills"].sort()
    return got


def digest(data):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(data.iterdir())}


def test_inspect_reads_the_release_log_as_the_release_did(tmp_path):
    data = copy_fixture(tmp_path)
    before = digest(data)
    out = subprocess.run([WHARF, "storage", "inspect", str(data)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    got = parse_inspect(out.stdout)
    want = MANIFEST["inspect"]
    assert got["problems"] == [], out.stdout
    assert (got["segments"], got["bytes"], got["records"]) == (want["segments"], want["bytes"], want["records"]), out.stdout
    assert got["live_messages"] == want["live_messages"], out.stdout
    assert got["sessions"] == want["sessions"], out.stdout
    assert got["groups"] == want["groups"], out.stdout
    assert got["retained"] == want["retained"], out.stdout
    assert got["wills"] == want["wills"], out.stdout
    assert got["dedup"] == want["dedup"], out.stdout
    assert digest(data) == before, "inspect changed the data directory"


def test_recovery_restores_every_stored_message_and_cuts_nothing(recovered):
    text = metrics(recovered)
    assert metric_value(text, "wharf_storage_recovered_messages") == MANIFEST["inspect"]["live_messages"], \
        [line for line in text.splitlines() if line.startswith("wharf_storage")]
    assert metric_value(text, "wharf_storage_recovery_truncated_bytes") == 0, recovered.log()[-3000:]
    assert "does not parse" not in recovered.log(), recovered.log()[-3000:]


def test_messages_that_expired_while_the_broker_was_down_count_as_expired_drops(recovered):
    """The aged fixture holds messages whose expiry passed long ago: recovery
    drops them, says how many in its log line, and counts them."""
    m = re.search(r"; (\d+) had expired", recovered.log())
    assert m, recovered.log()[-3000:]
    text = metrics(recovered)
    series = re.search(r'^wharf_messages_dropped_total\{reason="expired"\} ([0-9.eE+-]+)$', text, re.MULTILINE)
    assert series and float(series.group(1)) >= int(m.group(1)) > 0, \
        [line for line in text.splitlines() if line.startswith("wharf_messages_dropped_total")]


# 2. Persistent sessions and their queues ---------------------------------------------------------

@pytest.mark.parametrize("rnd", ["cp", "tail"])
def test_v311_session_resumes_with_its_queue_in_order(recovered, rnd):
    c, present = raw3(recovered.port, f"fx-{rnd}-v3")
    try:
        assert present is True, recovered.log()[-3000:]
        want = [(f"fx/{rnd}/orders/1", b"order-1", 1), (f"fx/{rnd}/alerts/fire", b"alert-1", 2),
                (f"fx/{rnd}/orders/2", b"order-2", 1), (f"fx/{rnd}/alerts/x/y", b"alert-2", 1)]
        if rnd == "cp":
            want.append(("fx/cp/orders/4", b"order-4", 1))  # queued after the checkpoint
        got, _ = take(c, len(want))
        assert [(m.topic, m.payload, m.qos) for m in got] == want
        # The restored subscriptions route new messages; the unsubscribed filter does not.
        pub = paho(recovered.port, f"fx-{rnd}-probe")
        pub.publish(f"fx/{rnd}/old", b"unsubscribed", qos=1)
        pub.publish(f"fx/{rnd}/orders/9", b"order-9", qos=2)
        pub.disconnect()
        got, _ = take(c, 1)
        assert [(m.topic, m.payload, m.qos) for m in got] == [(f"fx/{rnd}/orders/9", b"order-9", 1)]
        c.send(rawmqtt.DISCONNECT_BYTES)
    finally:
        c.close()


@pytest.mark.parametrize("rnd", ["cp", "tail"])
def test_v5_session_resumes_with_properties_subscription_ids_and_options(recovered, rnd):
    age = time.time() - TIMES[f"{rnd}_v5_published_at"]
    sid = 42 if rnd == "cp" else 43
    c, present = raw5(recovered.port, f"fx-{rnd}-v5", FOREVER if rnd == "cp" else DECADE)
    try:
        assert present is True, recovered.log()[-3000:]
        count = 4 if rnd == "cp" else 3  # tail's fourth, `brief`, expired long ago
        got, _ = take(c, count)
        want = [(f"fx/{rnd}/sensors/kitchen/temp", b"21.5", 1), (f"fx/{rnd}/sensors/door", b"open", 2),
                (f"fx/{rnd}/sensors/hall/temp", b"19.0", 2)]
        if rnd == "cp":
            want.append(("fx/cp/sensors/attic/temp", b"17.5", 1))  # queued after the checkpoint
        assert [(m.topic, m.payload, m.qos) for m in got] == want
        kitchen, door, hall = got[:3]
        assert kitchen.props.user == [("unit", "C"), ("room", "kitchen")]
        assert kitchen.props.get(rawmqtt.CONTENT_TYPE) == "text/plain"
        ids = lambda m: sorted(m.props.all(rawmqtt.SUBSCRIPTION_ID))  # noqa: E731
        assert (ids(kitchen), ids(door), ids(hall)) == (sorted([sid, 7]), [7], sorted([sid, 7]))
        if rnd == "cp":
            assert ids(got[3]) == [7, 42]
        left = kitchen.props.get(rawmqtt.MESSAGE_EXPIRY)
        assert left is not None and DECADE - age - 120 <= left <= DECADE - age + 5, (left, DECADE - age)
        assert door.props.get(rawmqtt.MESSAGE_EXPIRY) is None
        assert hall.props.get(rawmqtt.PAYLOAD_FORMAT) == 1
        assert hall.props.get(rawmqtt.RESPONSE_TOPIC) == f"fx/{rnd}/replies"
        assert hall.props.get(rawmqtt.CORRELATION_DATA) == b"\x00\x01corr"
        # No local: its own message does not come back; another client's does.
        c.send(rawmqtt.publish(f"fx/{rnd}/chat", b"own", qos=1, pid=100, version=5))
        other = paho5(recovered.port, f"fx-{rnd}-probe")
        time.sleep(0.2)
        assert other.publish(f"fx/{rnd}/chat", b"other", qos=1) == 0
        # Retain as published: a retained message keeps RETAIN on the way to it.
        assert other.publish(f"fx/{rnd}/rap/x", b"rap", qos=1, retain=True) == 0
        got, others = take(c, 2)
        assert [(m.topic, m.payload, m.retain) for m in got] == [
            (f"fx/{rnd}/chat", b"other", False), (f"fx/{rnd}/rap/x", b"rap", True)]
        assert [(p.type, p.ack_fields()[0]) for p in others] == [(rawmqtt.PUBACK, 100)]
        other.publish(f"fx/{rnd}/rap/x", b"", qos=1, retain=True)
        other.disconnect()
        c.send(rawmqtt.DISCONNECT_BYTES)
    finally:
        c.close()


def test_acknowledged_deliveries_do_not_come_again(recovered):
    """acked-1 (PUBACK) and acked-2 (PUBCOMP) were done before the kill; kept-3 was not."""
    c, present = raw3(recovered.port, "fx-tail-acked")
    try:
        assert present is True
        got, _ = take(c, 1)
        assert [(m.topic, m.payload, m.qos) for m in got] == [("fx/tail/acked", b"kept-3", 1)]
        c.send(rawmqtt.DISCONNECT_BYTES)
    finally:
        c.close()


def test_retained_messages_queued_on_subscribe_keep_their_retain_flag(recovered):
    """Sent on SUBSCRIBE and not acknowledged before the kill: they come again
    as retained messages (the brief one, routed later, has expired)."""
    c, present = raw3(recovered.port, "fx-tail-late")
    try:
        assert present is True
        got, _ = take(c, 4)
        assert sorted((m.topic, m.payload, m.qos, m.retain) for m in got) == [
            ("fx/retained/keep-1", b"v1", 1, True), ("fx/retained/keep-2", b"v2", 1, True),
            ("fx/retained/keep-3", b"v3", 1, True), ("fx/retained/props", b"p", 1, True)], got
        c.send(rawmqtt.DISCONNECT_BYTES)
    finally:
        c.close()


def test_session_that_expired_while_the_broker_was_down_is_gone(recovered):
    c = paho5(recovered.port, "fx-short", clean_start=False, session_expiry=DURATIONS["short_session"])
    try:
        assert c.session_present is False, "a session past its expiry came back"
        c.nothing_for(0.7)
    finally:
        c.disconnect()


def test_dead_letter_waits_for_its_subscriber(recovered):
    c = paho5(recovered.port, "fx-auditor", clean_start=False, session_expiry=FOREVER)
    try:
        assert c.session_present is True
        got = drain_paho(c, 1)
        assert [(m.topic, m.payload) for m in got] == [("$DLQ/fx/dlq/7", b"bad-job")]
        user = dict(user_props(got[0]))
        assert user.get("wharf-original-topic") == "fx/dlq/7", user
        assert user.get("wharf-delivery-attempts") == "1", user
        assert user.get("wharf-dead-letter-reason") == "max_delivery_attempts", user
    finally:
        c.disconnect()


# 3. QoS 2 state both ways ------------------------------------------------------------------------

@pytest.mark.parametrize("rnd", ["cp", "tail"])
def test_outbound_qos2_resumes_under_the_packet_ids_it_went_out_with(recovered, rnd):
    """pay-1 got PUBREC: PUBREL comes again under its id, never the PUBLISH.
    pay-2 went out and was not answered: it comes again with DUP, same id.
    pay-3 (QoS 1, unanswered) and pay-4 (queued while away) follow, in order."""
    ids = PIDS[f"{rnd}_q2"]
    if rnd == "cp":
        c = rawmqtt.RawClient(recovered.port, version=5)
        present, code, _ = c.connect(f"fx-{rnd}-q2", clean=False, props=[(rawmqtt.SESSION_EXPIRY, FOREVER)])
        assert (present, code) == (True, rawmqtt.SUCCESS), recovered.log()[-3000:]
    else:
        c = rawmqtt.RawClient(recovered.port)
        assert c.connect(f"fx-{rnd}-q2", clean=False)[:2] == (True, 0), recovered.log()[-3000:]
    fields = lambda p: (p.publish_fields()[0], p.publish_fields()[1], p.publish_fields()[3])  # noqa: E731
    try:
        packets = read_all(c)
        assert packets, "nothing resumed"
        first = packets[0]
        assert first.type == rawmqtt.PUBREL and first.body[:2] == ids["pubrel"].to_bytes(2, "big"), \
            f"expected PUBREL {ids['pubrel']} first, got {packets}"
        publishes = [p for p in packets if p.type == rawmqtt.PUBLISH]
        assert [p for p in packets if p.type not in (rawmqtt.PUBLISH, rawmqtt.PUBREL)] == [], packets
        assert len([p for p in packets if p.type == rawmqtt.PUBREL]) == 1, packets
        seen = [(fields(p)[0], fields(p)[2], p.qos) for p in publishes]
        assert seen == [(f"fx/{rnd}/pay/2", b"pay-2", 2), (f"fx/{rnd}/pay/3", b"pay-3", 1),
                        (f"fx/{rnd}/pay/4", b"pay-4", 2)], f"{seen} (pay-1 must not come again)"
        pay2 = publishes[0]
        assert fields(pay2)[1] == ids["sent"] and pay2.dup, f"pay-2 resent as {pay2} (packet id {ids['sent']}, DUP)"
        # Complete every flow; then nothing is owed.
        ack = rawmqtt.ack  # the short form, the same in 3.1.1 and 5.0
        c.send(ack(rawmqtt.PUBCOMP, ids["pubrel"]))
        for p in publishes:
            pid = fields(p)[1]
            if p.qos == 1:
                c.send(ack(rawmqtt.PUBACK, pid))
            else:
                c.send(ack(rawmqtt.PUBREC, pid))
                rel = c.read(timeout=5)
                assert rel.type == rawmqtt.PUBREL and rel.body[:2] == pid.to_bytes(2, "big"), rel
                c.send(ack(rawmqtt.PUBCOMP, pid))
        assert read_all(c) == []
    finally:
        c.close()


def test_inbound_qos2_packet_ids_still_await_pubrel(recovered):
    """A resent PUBLISH under an id awaiting PUBREL is acknowledged, not routed
    again; an id whose flow completed before the stop is free for a new message."""
    cp = rawmqtt.RawClient(recovered.port, version=5)
    present, code, _ = cp.connect("fx-cp-sender", clean=False, props=[(rawmqtt.SESSION_EXPIRY, FOREVER)])
    assert (present, code) == (True, rawmqtt.SUCCESS), recovered.log()[-3000:]
    pid = PIDS["cp_inbound"]
    cp.send(rawmqtt.publish("fx/cp/once", b"once-cp", qos=2, pid=pid, dup=True, version=5))
    assert cp.read_type(rawmqtt.PUBREC).ack_fields()[:2] == (pid, rawmqtt.SUCCESS)
    cp.send(rawmqtt.ack(rawmqtt.PUBREL, pid))
    assert cp.read_type(rawmqtt.PUBCOMP).ack_fields()[:2] == (pid, rawmqtt.SUCCESS), \
        "PUBCOMP 0x92 (packet identifier not found): the id awaiting PUBREL was forgotten"
    cp.send(rawmqtt.DISCONNECT_BYTES)
    cp.close()

    tail = rawmqtt.RawClient(recovered.port)
    assert tail.connect("fx-tail-sender", clean=False)[:2] == (True, 0)
    pid = PIDS["tail_inbound"]
    for packet, reply in [(rawmqtt.publish("fx/tail/once", b"once-tail", qos=2, pid=pid, dup=True), (rawmqtt.PUBREC, pid)),
                          (rawmqtt.ack(rawmqtt.PUBREL, pid), (rawmqtt.PUBCOMP, pid)),
                          (rawmqtt.publish("fx/tail/once", b"again-10", qos=2, pid=10), (rawmqtt.PUBREC, 10)),
                          (rawmqtt.ack(rawmqtt.PUBREL, 10), (rawmqtt.PUBCOMP, 10))]:
        tail.send(packet)
        p = tail.read(timeout=5)
        assert (p.type, int.from_bytes(p.body[:2], "big")) == reply, p
    tail.send(rawmqtt.DISCONNECT_BYTES)
    tail.close()

    w, present = raw3(recovered.port, "fx-once-watch")
    try:
        assert present is True
        got, _ = take(w, 4)
        assert [(m.topic, m.payload, m.qos) for m in got] == [
            ("fx/cp/once", b"once-cp", 2), ("fx/tail/once", b"done-10", 2), ("fx/tail/once", b"once-tail", 2),
            ("fx/tail/once", b"again-10", 2)], "each message once, and the new one under the freed id"
        w.send(rawmqtt.DISCONNECT_BYTES)
    finally:
        w.close()


# 4. Retained messages ----------------------------------------------------------------------------

def test_retained_messages_are_kept_and_deleted_ones_stay_deleted(recovered):
    c = paho5(recovered.port, "fx-retained-reader")
    try:
        assert c.subscribe("fx/retained/#", 1) == [1]
        got = drain_paho(c, 4)
        assert sorted((m.topic, m.payload, m.retain) for m in got) == [
            ("fx/retained/keep-1", b"v1", True), ("fx/retained/keep-2", b"v2", True),
            ("fx/retained/keep-3", b"v3", True), ("fx/retained/props", b"p", True)], \
            "gone and gone-later were deleted; brief expired long ago"
        (p,) = [m for m in got if m.topic == "fx/retained/props"]
        assert getattr(p.properties, "ContentType", None) == "application/x-fx"
        assert user_props(p) == [("k", "v")]
    finally:
        c.disconnect()


# 5. Consumer groups ------------------------------------------------------------------------------

def test_group_queue_goes_to_a_member_and_a_job_past_pubrec_stays_with_its_own(recovered):
    w1, present = raw3(recovered.port, "fx-worker-1")
    try:
        assert present is True
        got, _ = take(w1, 8)
        jobs = [(m.payload, m.qos) for m in got]
        want = [(f"job-{i}".encode(), 2 if i in (6, 8) else 1) for i in range(1, 9)]
        assert sorted(jobs) == sorted(want), f"{jobs} (job-held belongs to worker 2)"
        assert jobs == want, f"the group's queue came out of order: {jobs}"
        w1.send(rawmqtt.DISCONNECT_BYTES)
    finally:
        w1.close()
    w2 = rawmqtt.RawClient(recovered.port, version=5)
    try:
        present, code, _ = w2.connect("fx-worker-2", clean=False, props=[(rawmqtt.SESSION_EXPIRY, FOREVER)])
        assert (present, code) == (True, rawmqtt.SUCCESS)
        packets = read_all(w2)
        assert len(packets) == 1 and packets[0].type == rawmqtt.PUBREL, packets
        assert packets[0].ack_fields()[0] == PIDS["held_job"]
        w2.send(rawmqtt.ack(rawmqtt.PUBCOMP, PIDS["held_job"]))
        assert read_all(w2) == []
        w2.send(rawmqtt.DISCONNECT_BYTES)
    finally:
        w2.close()


def test_a_group_that_ended_stays_ended(recovered):
    """$share/temp/fx/temp ended with temp-1 waiting in it: a new member gets nothing old."""
    c = paho(recovered.port, "fx-temp-new")
    try:
        c.subscribe("$share/temp/fx/temp", 1)
        c.nothing_for(0.7)
        pub = paho(recovered.port, "fx-temp-pub")
        pub.publish("fx/temp", b"temp-2", qos=1)
        pub.disconnect()
        assert [m.payload for m in drain_paho(c, 1)] == [b"temp-2"]
    finally:
        c.disconnect()


# 6. Delayed wills --------------------------------------------------------------------------------

def test_overdue_will_goes_at_start_and_a_far_one_waits(recovered):
    w = paho(recovered.port, "fx-will-watch", clean=False)
    try:
        assert w.session_present is True
        m = w.get(timeout=5)
        assert (m.topic, m.payload, m.qos) == ("fx/will/due", b"due-will", 1)
        w.nothing_for(1.0)  # once, and not the ten-year one
        far = rawmqtt.RawClient(recovered.port, version=5)
        present, code, _ = far.connect("fx-will-far", clean=False, props=[(rawmqtt.SESSION_EXPIRY, FOREVER)])
        assert (present, code) == (True, rawmqtt.SUCCESS)
        far.send(rawmqtt.DISCONNECT_BYTES)  # back in time: the will is cancelled, and a normal goodbye drops it
        far.close()
        w.nothing_for(0.7)
    finally:
        w.disconnect()
    due = rawmqtt.RawClient(recovered.port, version=5)
    present, code, _ = due.connect("fx-will-due", clean=False, props=[(rawmqtt.SESSION_EXPIRY, FOREVER)])
    assert (present, code) == (True, rawmqtt.SUCCESS), "the will's session outlives its will"
    due.send(rawmqtt.DISCONNECT_BYTES)
    due.close()


# 7. Right after the stop: what time has not run out yet ------------------------------------------

SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

/* Shifts the wall clock (only) by WHARF_TEST_WALL_OFFSET_NS nanoseconds. */
static long long offset_ns;
static int (*real_clock_gettime)(clockid_t, struct timespec *);

__attribute__((constructor)) static void init(void) {
    const char *s = getenv("WHARF_TEST_WALL_OFFSET_NS");
    offset_ns = s ? atoll(s) : 0;
    real_clock_gettime = dlsym(RTLD_NEXT, "clock_gettime");
}

int clock_gettime(clockid_t id, struct timespec *ts) {
    if (!real_clock_gettime) real_clock_gettime = dlsym(RTLD_NEXT, "clock_gettime");
    int r = real_clock_gettime(id, ts);
    if (r == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE)) {
        long long ns = (long long)ts->tv_sec * 1000000000LL + ts->tv_nsec + offset_ns;
        ts->tv_sec = ns / 1000000000LL;
        ts->tv_nsec = ns % 1000000000LL;
    }
    return r;
}

int gettimeofday(struct timeval *tv, void *tz) {
    struct timespec ts;
    (void)tz;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (tv) { tv->tv_sec = ts.tv_sec; tv->tv_usec = ts.tv_nsec / 1000; }
    return 0;
}

time_t time(time_t *t) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (t) *t = ts.tv_sec;
    return ts.tv_sec;
}
"""


@pytest.fixture(scope="module")
def wall_clock_shim(tmp_path_factory):
    compiler = shutil.which("cc") or shutil.which("clang") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler for the wall-clock shim")
    d = tmp_path_factory.mktemp("shim")
    (d / "shim.c").write_text(SHIM)
    out = subprocess.run([compiler, "-shared", "-fPIC", "-O2", "-o", str(d / "shim.so"), str(d / "shim.c"), "-ldl"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return d / "shim.so"


def test_restart_right_after_the_stop_keeps_what_has_not_run_out(tmp_path, monkeypatch, wall_clock_shim):
    """The broker's wall clock starts 1 s after the release was killed."""
    restart_at = TIMES["killed_at"] + 1.0
    will_in = TIMES["will_due_at"] - restart_at  # about 3 s
    data = copy_fixture(tmp_path)
    launched = time.monotonic()
    b = start_on(tmp_path, data, monkeypatch, wall_clock_at=restart_at, shim=wall_clock_shim)
    try:
        arrivals = []
        w = paho(b.port, "fx-will-watch", clean=False)
        w.client.on_message = lambda c, u, m: arrivals.append((time.monotonic() - launched, m))
        assert w.session_present is True

        # The shim took: the broker's log stamps its lines with the shifted time.
        stamp = re.search(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4})", b.log())
        if stamp:
            seen = datetime.datetime.strptime(stamp.group(1), "%Y-%m-%dT%H:%M:%S%z").timestamp()
            assert abs(seen - restart_at) < 30, f"the broker's clock was not shifted: {stamp.group(1)}"

        # A message expiring 20 s after it was published: still deliverable, with what is left.
        v5, present = raw5(b.port, "fx-tail-v5", DECADE)
        got, _ = take(v5, 4)
        v5.send(rawmqtt.DISCONNECT_BYTES)
        v5.close()
        assert present is True
        assert [m.payload for m in got] == [b"21.5", b"open", b"19.0", b"brief"]
        left = got[3].props.get(rawmqtt.MESSAGE_EXPIRY)
        most = DURATIONS["short_expiry"] - (restart_at - TIMES["brief_published_at"]) + 1
        assert left is not None and 1 <= left <= most, (left, most)

        r = paho5(b.port, "fx-brief-reader")
        assert r.subscribe("fx/retained/brief", 1) == [1]
        assert [(m.payload, m.retain) for m in drain_paho(r, 1)] == [(b"brief", True)]
        r.disconnect()

        # A session expiring 30 s after its client left: still there.
        s = paho5(b.port, "fx-short", clean_start=False, session_expiry=DURATIONS["short_session"])
        got = drain_paho(s, 1)
        s.disconnect()
        assert s.session_present is True
        assert [(m.topic, m.payload) for m in got] == [("fx/short/1", b"short-1")]

        # De-duplication ids seen within the window (300 s): repeats are acknowledged, not routed.
        pub = paho5(b.port, "fx-dedup-probe")
        for rnd in ("cp", "tail"):
            repeat = props(PacketTypes.PUBLISH, UserProperty=[("wharf-msg-id", f"fx-id-{rnd}")])
            assert pub.publish(f"fx/{rnd}/dedup", f"dedup-{rnd}".encode(), qos=1, properties=repeat) < 0x80
        new = props(PacketTypes.PUBLISH, UserProperty=[("wharf-msg-id", "fx-id-new")])
        assert pub.publish("fx/tail/dedup", b"dedup-new", qos=1, properties=new) == 0
        pub.disconnect()
        d = paho(b.port, "fx-dedup-watch", clean=False)
        got = drain_paho(d, 3)
        d.disconnect()
        assert [m.payload for m in got] == [b"dedup-cp", b"dedup-tail", b"dedup-new"], \
            "a de-duplication id within its window was forgotten"

        # The will, due 6 s after its client dropped (2 s before the kill), when due.
        deadline = time.monotonic() + will_in + 6
        while not arrivals and time.monotonic() < deadline:
            time.sleep(0.05)
        assert arrivals, f"no will within {will_in + 6:.1f} s of the start\n{b.log()[-3000:]}"
        at, m = arrivals[0]
        assert (m.topic, m.payload) == ("fx/will/due", b"due-will")
        assert at >= will_in - 0.3, f"the will came {at:.2f} s after the start, before it was due ({will_in:.2f} s)"
        time.sleep(0.5)
        assert len(arrivals) == 1, [(a, x.topic) for a, x in arrivals]
        w.disconnect()
    finally:
        code = b.stop(timeout=15)
        assert code == 0, f"wharf exited with {code}\n{b.log()[-3000:]}"
