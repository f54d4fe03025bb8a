"""Clean shutdown on SIGINT and SIGTERM with clients connected."""
import collections
import signal
import subprocess
import time

import pytest

import rawmqtt as raw
from conftest import WHARF


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_shuts_down_cleanly_with_clients(broker_factory, uid, sig):
    b = broker_factory()
    clients = [raw.RawClient(b.port) for _ in range(5)]
    for i, c in enumerate(clients):
        c.connect(f"{uid}-{i}")
    assert b.stop(sig, timeout=10) == 0
    for c in clients:
        assert c.closed_by_broker(timeout=3)
    assert "shutting down" in b.log() and "stopped" in b.log()


def test_keepalive_zero_never_times_out(broker, uid):
    c = raw.RawClient(broker.port)
    c.connect(f"{uid}-z", keepalive=0)
    assert not c.closed_by_broker(timeout=2.5)
    c.send(raw.PINGREQ_BYTES)
    assert c.read().type == raw.PINGRESP


def test_sigterm_during_startup_is_never_lost(tmp_path):
    """A SIGTERM at any moment of start-up ends the process: gracefully once
    the handler is in (exit 0), or by the default action before it, but it
    never hangs (a signal ignored and lost between two steps of set-up)."""
    import random
    outcomes = collections.Counter()
    for i in range(40):
        proc = subprocess.Popen([WHARF, "serve", "--port", "0", "--metrics-port", "0", "--data-dir", str(tmp_path / f"data-{i}")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(random.uniform(0, 0.04))
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError(f"attempt {i}: SIGTERM lost, the broker kept running")
        assert code in (0, -signal.SIGTERM), code
        outcomes[code] += 1
    assert sum(outcomes.values()) == 40
