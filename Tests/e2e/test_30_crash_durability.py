"""Durable storage: nothing acknowledged is ever lost, across kill -9 and restarts.

The kill -9 cycles are the logic of scripts/crash-test (durability.py), shorter:
kill moments within 0.3-1 s of load, and a drain that ends after 1 s of quiet."""
import subprocess

import pytest

import durability
from conftest import WHARF, start_broker
from mqtt5clients import wharf_only
from mqttclients import paho

pytestmark = wharf_only  # Wharf's data directory and kill -9 recovery


def crash_cycles(tmp_path, cycles, qos, in_memory=False, group=False) -> durability.CrashRun:
    run = durability.CrashRun(WHARF, tmp_path, qos=qos, kill_window=(0.3, 1.0), quiet=1.0,
                              drain_limit=30, in_memory=in_memory, group=group)
    try:
        for _ in range(cycles):
            run.run_cycle()
        assert run.close() == 0, f"wharf did not exit 0 on SIGTERM\n{run.logs()}"
    finally:
        run.broker.kill()
    return run


def report(run, qos) -> str:
    lines = [c.line(qos) for c in run.cycles]
    if lost := run.lost():
        lines.append(f"lost: {durability.summarize(lost)}")
    if qos == 2 and (dups := run.duplicated()):
        lines.append(f"duplicated: {durability.summarize(dups)}")
    return "\n".join(lines) + "\n" + run.logs()


@pytest.mark.parametrize("qos, cycles, group", [(1, 5, False), (2, 3, False), (2, 2, True)],
                         ids=["qos1-session", "qos2-session", "qos2-group"])
def test_kill9_under_load_loses_no_acknowledged_message(tmp_path, qos, cycles, group):
    """Into a persistent session's queue, or a consumer group's ($share/crash/...)."""
    run = crash_cycles(tmp_path, cycles, qos, group=group)
    for c in run.cycles:
        # Without acknowledged messages the check below would prove nothing.
        assert c.acknowledged > 0, report(run, qos)
        assert c.drain.session_present, f"cycle {c.number}: the session did not survive\n{report(run, qos)}"
    assert run.lost() == [], report(run, qos)
    if qos == 2:
        assert run.duplicated() == [], f"QoS 2 delivered a message twice\n{report(run, qos)}"


def test_check_fails_without_storage(tmp_path):
    """The same cycle against an in-memory broker must report losses: the check can fail."""
    run = crash_cycles(tmp_path, 1, 1, in_memory=True)
    assert run.acknowledged and run.lost(), report(run, 1)


def test_sigterm_restart_keeps_retained_and_queued_messages(tmp_path, uid):
    data = tmp_path / "data"
    storage = ["--data-dir", str(data), "--fsync", "always"]
    b = start_broker(tmp_path, extra_args=storage)
    sub = paho(b.port, f"{uid}-keep", clean=False)
    sub.subscribe(f"{uid}/q", 1)
    sub.disconnect()
    pub = paho(b.port, f"{uid}-pub")
    pub.publish(f"{uid}/retained", b"kept", qos=1, retain=True)
    for i in range(5):
        pub.publish(f"{uid}/q", f"m{i}".encode(), qos=1)
    pub.disconnect()
    assert b.stop() == 0, b.log()[-3000:]

    inspect = subprocess.run([WHARF, "storage", "inspect", str(data)], capture_output=True, text=True, timeout=30)
    assert inspect.returncode == 0, inspect.stderr
    assert f"{uid}-keep" in inspect.stdout, inspect.stdout

    b = start_broker(tmp_path, extra_args=storage)
    try:
        back = paho(b.port, f"{uid}-keep", clean=False)
        assert back.session_present is True
        got = back.get_all(5)
        assert [(m.payload, m.qos) for m in got] == [(f"m{i}".encode(), 1) for i in range(5)]
        back.nothing_for(0.3)
        back.disconnect()
        late = paho(b.port, f"{uid}-late")
        late.subscribe(f"{uid}/retained", 1)
        m = late.get()
        assert (m.payload, m.retain) == (b"kept", True)
        late.disconnect()
    finally:
        assert b.stop() == 0, b.log()[-3000:]
