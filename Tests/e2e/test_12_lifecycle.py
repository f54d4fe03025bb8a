"""Clean shutdown on SIGINT and SIGTERM with clients connected."""
import signal

import pytest

import rawmqtt as raw


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
