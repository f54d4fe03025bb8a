"""Process lifecycle: the ready line, and a clean exit (code 0, promptly) on
SIGINT and SIGTERM, also with clients connected and traffic flowing."""
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

import mqtt_raw as raw
from conftest import WHARF, free_port, isolation_args, read_line
from mqttclients import paho


def test_ready_line_names_the_bound_address():
    """The one stdout line, `wharf <version> listening on 127.0.0.1:PORT`, is
    printed once the port accepts connections."""
    port = free_port()
    proc = subprocess.Popen([WHARF, "serve", "--bind", "127.0.0.1", "--port", str(port), *isolation_args()],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        line = read_line(proc, 15)
        assert re.fullmatch(rf"wharf \d+\.\d+\.\d+\S* listening on 127\.0\.0\.1:{port}\n", line), repr(line)
        c = raw.RawClient(port)  # accepted at once, no retry needed
        assert c.connect("ready").connack() == (False, 0)
        c.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=10)
        rest = proc.stdout.read()
        proc.stdout.close()
    assert code == 0
    assert rest == b"", f"more on stdout after the ready line: {rest!r}"


def test_port_zero_prints_the_port_it_picked():
    proc = subprocess.Popen([WHARF, "serve", "--bind", "127.0.0.1", "--port", "0", *isolation_args()],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        line = read_line(proc, 15)
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        assert m and int(m.group(1)) > 0, repr(line)
        c = raw.RawClient(int(m.group(1)))
        assert c.connect("zero").connack() == (False, 0)
        c.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        proc.stdout.close()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_with_clients_connected_exits_0_promptly(broker, uid, sig):
    b = broker()
    raws = []
    for i in range(5):
        c = raw.RawClient(b.port)
        c.connect(f"{uid}-{i}", clean=i % 2 == 0)
        c.subscribe(1, (f"{uid}/t", 1))
        raws.append(c)
    p = paho(b.port, f"{uid}-paho")
    p.subscribe(f"{uid}/#", 1)
    idle = raw.RawClient(b.port)  # TCP connected, no CONNECT yet
    half = raw.RawClient(b.port)
    half.send(raw.connect(f"{uid}-half")[:7])  # in the middle of a CONNECT
    start = time.monotonic()
    assert b.stop(sig, timeout=10) == 0
    assert time.monotonic() - start < 5, "shutdown took more than 5 s"
    for c in raws + [idle, half]:
        assert c.wait_closed(timeout=3) == [], "clients see their connection closed"
    assert p.disconnected.wait(3)
    with socket.socket() as s:  # the port is released
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", b.port))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_heavy_traffic_exits_0(broker, uid, sig):
    b = broker()
    sub = raw.RawClient(b.port)
    sub.connect(f"{uid}-slow")
    sub.subscribe(1, (f"{uid}/flood", 1))  # never acknowledges: its queue fills
    stop = threading.Event()
    errors = []

    def flood(n):
        try:
            c = raw.RawClient(b.port)
            c.connect(f"{uid}-flood{n}")
            big = raw.publish(f"{uid}/flood", b"x" * 2000)
            while not stop.is_set():
                c.send(big * 20)
        except OSError:
            pass  # the broker went away, as intended
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=flood, args=(n,), daemon=True) for n in range(3)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    try:
        start = time.monotonic()
        assert b.stop(sig, timeout=10) == 0
        assert time.monotonic() - start < 5, "shutdown under load took more than 5 s"
    finally:
        stop.set()
        for t in threads:
            t.join(5)
    assert not errors, errors


def test_restart_on_the_same_port_right_after_shutdown(broker, uid):
    b = broker()
    c = raw.RawClient(b.port)
    c.connect(f"{uid}-1")
    assert b.stop() == 0
    proc = subprocess.Popen([WHARF, "serve", "--bind", "127.0.0.1", "--port", str(b.port), *isolation_args()],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        line = read_line(proc, 15)
        assert f"listening on 127.0.0.1:{b.port}" in line, (line, proc.stderr.read1(4000) if proc.poll() else b"")
        again = raw.RawClient(b.port)
        assert again.connect(f"{uid}-2").connack() == (False, 0)
        again.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        proc.stdout.close()
        proc.stderr.close()


@pytest.mark.timeout(60)
def test_sigterm_immediately_after_the_ready_line_is_not_lost(broker):
    """A supervisor may send SIGTERM the moment the ready line appears. The
    signal must neither kill the process with the default action nor be
    ignored (the broker would then run on); it must stop the broker with
    exit code 0. Repeated, since the window is short."""
    outcomes = []
    for attempt in range(25):
        port = free_port()
        proc = subprocess.Popen([WHARF, "serve", "--bind", "127.0.0.1", "--port", str(port), *isolation_args()],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        line = read_line(proc, 15)
        proc.send_signal(signal.SIGTERM if attempt % 2 else signal.SIGINT)
        try:
            code = proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            code = "still running 3 s later"
            proc.kill()
            proc.wait(timeout=5)
        proc.stdout.close()
        assert "listening" in line, line
        outcomes.append(code)
    assert all(code == 0 for code in outcomes), outcomes


def test_sigterm_during_start_up_is_not_lost(tmp_path):
    """A SIGTERM that arrives while the broker is still starting must end the
    process (cleanly, or by the signal's default action), never be ignored
    and leave the broker running. The start-up window is short, so the
    signal is sent at 40 different moments of it."""
    outcomes = []
    for i in range(40):
        proc = subprocess.Popen([WHARF, "serve", "--bind", "127.0.0.1", "--port", str(free_port()),
                                 *isolation_args()],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        time.sleep(0.0025 * i)
        proc.send_signal(signal.SIGTERM)
        try:
            outcomes.append(proc.wait(timeout=3))
        except subprocess.TimeoutExpired:
            outcomes.append(f"still running 3 s after SIGTERM sent {2.5 * i:.1f} ms after start")
            proc.kill()
            proc.wait(timeout=5)
        finally:
            proc.stdout.close()
    assert all(code in (0, -signal.SIGTERM) for code in outcomes), outcomes
