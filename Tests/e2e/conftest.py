"""Fixtures: a real `wharf serve` on a free loopback port, per test."""
import os
import pathlib
import signal
import socket
import subprocess
import uuid

import pytest

from natscluster import nats_cluster, nats_cluster_shared  # noqa: E402,F401  (NATS cluster fixtures for cluster-mode tests)

REPO = pathlib.Path(__file__).resolve().parents[2]
WHARF = os.environ.get("WHARF_BIN", str(REPO / ".build" / "debug" / "wharf"))


# Ports this process has handed out: the kernel may give the same free port
# to two calls in a row (the probe socket is closed before the broker binds),
# so a broker's MQTT and metrics ports could otherwise coincide.
_HANDED_OUT: set[int] = set()


def free_port() -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


class Broker:
    def __init__(self, proc: subprocess.Popen, port: int, metrics_port: int, stderr_path: pathlib.Path):
        self.proc = proc
        self.port = port
        self.metrics_port = metrics_port
        self.stderr_path = stderr_path

    def log(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stop(self, sig=signal.SIGTERM, timeout=10) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)


def start_broker(tmp_path: pathlib.Path, config: str | None = None, extra_args=()) -> Broker:
    # A free port can still be taken by another process between the probe and
    # the broker's bind; that is the test machine's race, not Wharf's, so try
    # fresh ports a few times before calling it a failure.
    for attempt in range(3):
        try:
            return _start_broker_once(tmp_path, config, extra_args)
        except PortTaken:
            if attempt == 2:
                raise


class PortTaken(RuntimeError):
    pass


def _start_broker_once(tmp_path: pathlib.Path, config: str | None, extra_args) -> Broker:
    port, metrics_port = free_port(), free_port()
    args = [WHARF, "serve", "--bind", "127.0.0.1", "--port", str(port), "--metrics-port", str(metrics_port),
            "--log-level", os.environ.get("WHARF_E2E_LOG_LEVEL", "debug"), *extra_args]
    # Every broker gets its own data directory (the default, ./wharf-data,
    # is one per working directory and locked by the broker using it).
    if "--data-dir" not in extra_args and "--in-memory" not in extra_args:
        args += ["--data-dir", str(tmp_path / f"wharf-data-{port}")]
    if config is not None:
        path = tmp_path / f"wharf-{port}.toml"
        path.write_text(config)
        args += ["--config", str(path)]
    stderr_path = tmp_path / f"wharf-{port}.log"
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=stderr_path.open("w"), text=True)
    # The ready line is printed after the listener is bound (no probe
    # connection: it would take a slot from max_connections tests).
    line = proc.stdout.readline()
    if "listening on" not in line:
        proc.kill()
        proc.wait(timeout=5)
        log = stderr_path.read_text()
        error = PortTaken if "Address already in use" in log else RuntimeError
        raise error(f"wharf did not start: {line!r}\n{log}")
    return Broker(proc, port, metrics_port, stderr_path)


@pytest.fixture
def broker_factory(tmp_path):
    """Starts brokers (optionally with a TOML config); stops them and checks a clean exit."""
    started = []

    def make(config: str | None = None, extra_args=()) -> Broker:
        b = start_broker(tmp_path, config, extra_args)
        started.append(b)
        return b

    yield make
    for b in started:
        code = b.stop()
        assert code == 0, f"wharf exited with {code}\n{b.log()[-3000:]}"


@pytest.fixture
def broker(broker_factory) -> Broker:
    return broker_factory()


@pytest.fixture
def uid() -> str:
    """A unique prefix so parallel tests never share topics or client ids."""
    return uuid.uuid4().hex[:10]
