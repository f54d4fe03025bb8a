"""Fixtures for the black-box suite: a real `wharf serve` on a free loopback
port, started per test, and stopped with SIGTERM at the end of the test (the
stop itself is checked: exit code 0 within 10 s).

The binary is $WHARF_BIN, or <repo>/.build/debug/wharf.
"""
import atexit
import functools
import os
import pathlib
import re
import shutil
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

import pytest

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import mqtt_raw  # noqa: E402
import mqttclients  # noqa: E402

REPO = HERE.parents[1]
WHARF = os.environ.get("WHARF_BIN", str(REPO / ".build" / "debug" / "wharf"))

READY_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
DEFAULT_TEST_TIMEOUT = 90  # seconds; a test that hangs fails instead of stalling the suite
READY_LINE = re.compile(r"^wharf \S+ listening on (\S+):(\d+)")


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


@functools.lru_cache(maxsize=None)
def serve_help() -> str:
    out = subprocess.run([WHARF, "serve", "--help"], capture_output=True, text=True, timeout=20)
    return out.stdout + out.stderr


_data_dirs: list = []
atexit.register(lambda: [shutil.rmtree(d, ignore_errors=True) for d in _data_dirs])


def isolation_args() -> list:
    """Newer builds also open an HTTP metrics listener, on a fixed default
    port, and keep a data directory, ./wharf-data by default (locked by the
    broker using it): parallel brokers would collide on both. Each broker
    gets no listener and a data directory of its own when the binary knows
    the flags."""
    args = ["--no-metrics"] if "--no-metrics" in serve_help() else []
    if "--data-dir" in serve_help():
        _data_dirs.append(tempfile.mkdtemp(prefix="wharf-conformance-"))
        args += ["--data-dir", _data_dirs[-1]]
    return args


class Broker:
    """A running `wharf serve`."""

    def __init__(self, proc, port, log_path, config_path):
        self.proc = proc
        self.port = port
        self.log_path = log_path
        self.config_path = config_path
        self.signalled = False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_tail(self, n=4000) -> str:
        return self.log()[-n:]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT) -> int:
        """Sends `sig` and returns the exit code; kills and fails after `timeout`."""
        if self.proc.poll() is None:
            self.signalled = True
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
            raise AssertionError(f"wharf did not exit within {timeout}s of {sig!r}\n{self.log_tail()}")
        finally:
            if self.proc.stdout:
                self.proc.stdout.close()


def read_line(proc, timeout) -> str:
    """One stdout line, waiting at most `timeout` seconds ('' on EOF/timeout)."""
    fd, line, deadline = proc.stdout.fileno(), b"", time.monotonic() + timeout
    while not line.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            break
        chunk = os.read(fd, 1)
        if not chunk:
            break
        line += chunk
    return line.decode(errors="replace")


def start_broker(tmp_path: pathlib.Path, config: str | None = None, args=(), port=None) -> Broker:
    """Starts wharf on a free port (retrying if another process took it first)."""
    for attempt in range(3):
        chosen = port if port is not None else free_port()
        tag = f"{chosen}-{uuid.uuid4().hex[:6]}"
        cmd = [WHARF, "serve", "--bind", "127.0.0.1", "--port", str(chosen), "--log-level", "debug",
               *isolation_args(), *args]
        config_path = None
        if config is not None:
            config_path = tmp_path / f"wharf-{tag}.toml"
            config_path.write_text(config)
            cmd += ["--config", str(config_path)]
        log_path = tmp_path / f"wharf-{tag}.log"
        with log_path.open("w") as log:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL)
        line = read_line(proc, READY_TIMEOUT)
        m = READY_LINE.match(line)
        if m and int(m.group(2)) == chosen:
            return Broker(proc, chosen, log_path, config_path)
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=5)
        proc.stdout.close()
        text = log_path.read_text(errors="replace")
        if "in use" in text.lower() and port is None and attempt < 2:
            continue
        raise RuntimeError(f"wharf did not print its ready line within {READY_TIMEOUT}s: {line!r}\n"
                           f"command: {cmd}\nstderr:\n{text[-3000:]}")
    raise AssertionError("unreachable")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def broker(tmp_path, request):
    """Factory: `broker()` or `broker(config="[limits]\\n...")` starts a broker
    and returns it (.port, .proc, .log()). At the end of the test, clients are
    closed, then every broker still running gets SIGTERM and must exit 0
    within 10 s; a broker that died during the test fails it."""
    started = []

    def make(config: str | None = None, args=()) -> Broker:
        b = start_broker(tmp_path, config, args)
        started.append(b)
        return b

    yield make
    mqttclients.close_all()
    mqtt_raw.close_all()
    problems = []
    for b in started:
        if b.signalled:
            continue  # stopped by the test itself, which checked the exit
        was_running = b.alive()
        code = b.stop()
        if not was_running:
            why = ""
            if "received SIG" in b.log():
                why = " after a signal the suite did not send (another process signalled it)"
            problems.append(f"wharf on port {b.port} exited during the test{why} (exit {code})\n{b.log_tail()}")
        elif code != 0:
            problems.append(f"wharf on port {b.port} exited {code} on SIGTERM\n{b.log_tail()}")
    call = getattr(request.node, "report_call", None)
    if call is not None and call.failed:
        return  # the test already failed; its broker's fate is in its log, not a second error
    assert not problems, "\n".join(problems)


@pytest.fixture
def uid() -> str:
    """A unique prefix so that tests never share topics or client ids."""
    return "t" + uuid.uuid4().hex[:10]


def pytest_configure(config):
    config.addinivalue_line("markers", "timeout(seconds): fail the test after this many seconds")


@pytest.fixture(autouse=True)
def _bounded_time(request):
    """Every test has a deadline (SIGALRM in the main thread)."""
    marker = request.node.get_closest_marker("timeout")
    seconds = marker.args[0] if marker else DEFAULT_TEST_TIMEOUT

    def expired(signum, frame):
        pytest.fail(f"test exceeded its {seconds}s time limit", pytrace=True)

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    yield
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)
