"""`wharf top` in a real terminal (tmux) against a real broker with real clients."""
import json
import re
import shutil
import subprocess
import time
import urllib.request

import pytest

from conftest import WHARF, free_port
from mqttclients import paho

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux comes from scripts/ensure-deps")


class Tmux:
    """A private tmux server running one command in a 120x36 pane."""

    def __init__(self, name, command, width=120, height=36):
        self.args = ["tmux", "-L", name, "-f", "/dev/null"]
        # TERM inside is tmux-256color; keep the shell out of it so the pane
        # shows exactly what the command drew, and an exit marker after it.
        subprocess.run(self.args + ["new-session", "-d", "-x", str(width), "-y", str(height),
                                    f"{command}; echo WHARF-EXITED=$?; sleep 60"], check=True)
        # Without an attached client tmux may fall back to 80x24: fix the size.
        subprocess.run(self.args + ["set-option", "-g", "window-size", "manual"], check=True)
        subprocess.run(self.args + ["resize-window", "-t", "0", "-x", str(width), "-y", str(height)], check=True)

    def capture(self):
        return subprocess.run(self.args + ["capture-pane", "-p"], capture_output=True, text=True, check=True).stdout

    def keys(self, *keys):
        subprocess.run(self.args + ["send-keys", *keys], check=True)

    def display(self, fmt):
        return subprocess.run(self.args + ["display-message", "-p", fmt], capture_output=True, text=True, check=True).stdout.strip()

    def wait_for(self, predicate, timeout=15.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.capture()
            if predicate(screen):
                return screen
            time.sleep(0.2)
        raise AssertionError(f"screen never matched:\n{self.capture()}")

    def kill(self):
        subprocess.run(self.args + ["kill-server"], capture_output=True)


@pytest.fixture
def tmux(uid):
    sessions = []

    def start(command, **kw):
        session = Tmux(f"wharf-top-{uid}-{len(sessions)}", command, **kw)
        sessions.append(session)
        return session

    yield start
    for session in sessions:
        session.kill()


def snapshot(broker):
    with urllib.request.urlopen(f"http://127.0.0.1:{broker.metrics_port}/api/v1/snapshot", timeout=5) as r:
        return json.loads(r.read())


def parse_duration(text):
    """'850 us', '12.3 ms', '3.1 s', '1m 15s' -> seconds."""
    if m := re.fullmatch(r"(\d+)m (\d+)s", text):
        return int(m[1]) * 60 + int(m[2])
    value, unit = text.split()
    return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1}[unit]


def test_top_shows_depth_and_lag_help_and_quits_cleanly(broker, tmux, uid):
    worker = f"{uid}-worker"
    consumer = paho(broker.port, worker, clean=False)
    consumer.subscribe(f"{uid}/jobs", 1)
    consumer.disconnect()  # stopped: 37 messages wait for it
    pub = paho(broker.port, f"{uid}-pub")
    for i in range(37):
        pub.publish(f"{uid}/jobs", f"job {i}".encode(), qos=1)

    top = tmux(f"{WHARF} top --url http://127.0.0.1:{broker.metrics_port} --interval 0.5")
    screen = top.wait_for(lambda s: worker in s and "wharf top" in s)
    row = next(line for line in screen.splitlines() if worker in line)
    snap = snapshot(broker)
    queue = next(q for q in snap["queues"] if q["name"] == worker)
    cells = row.split()
    # QUEUE DEPTH INFLT CONS IN/S OUT/S LAG LAG-s(2 tokens) P99...
    assert cells[0] == worker
    assert int(cells[1]) == queue["depth"] == 37
    assert int(cells[6]) == queue["lagMessages"] == 37
    shown_lag = parse_duration(" ".join(cells[7:9]) if cells[8] in ("us", "ms", "s") or cells[8].endswith("s") else cells[7])
    assert abs(shown_lag - queue["lagSeconds"]) < 3, (row, queue["lagSeconds"])

    top.keys("?")
    help_screen = top.wait_for(lambda s: "q, Ctrl-C" in s and "keys" in s)
    assert "filter rows by name" in help_screen
    top.keys("x")  # any key closes help
    top.wait_for(lambda s: "q, Ctrl-C" not in s)

    top.keys("q")
    top.wait_for(lambda s: "WHARF-EXITED=0" in s)
    assert top.display("#{alternate_on}") == "0", "left the alternate screen"
    assert top.display("#{cursor_flag}") == "1", "cursor visible again"


def test_top_survives_a_broker_that_comes_and_goes(tmux, tmp_path, uid):
    port, metrics_port = free_port(), free_port()
    top = tmux(f"{WHARF} top --url http://127.0.0.1:{metrics_port} --interval 0.5")
    top.wait_for(lambda s: "disconnected, retrying" in s)

    log = (tmp_path / "broker.log").open("w")
    proc = subprocess.Popen([WHARF, "serve", "--port", str(port), "--metrics-port", str(metrics_port),
                             "--data-dir", str(tmp_path / "data")],
                            stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        assert "listening on" in proc.stdout.readline()
        sub = paho(port, f"{uid}-durable", clean=False)
        sub.subscribe(f"{uid}/x", 1)
        top.wait_for(lambda s: "disconnected" not in s and f"{uid}-durable" in s)
        sub.disconnect()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    top.wait_for(lambda s: "disconnected, retrying" in s)
    top.keys("q")
    top.wait_for(lambda s: "WHARF-EXITED=0" in s)


def test_sigterm_restores_the_terminal(broker, tmux):
    top = tmux(f"{WHARF} top --url http://127.0.0.1:{broker.metrics_port}")
    top.wait_for(lambda s: "wharf top" in s)
    pid = top.display("#{pane_pid}")
    # The pane runs sh -c; signal its child, the wharf process.
    children = subprocess.run(["pgrep", "-P", pid], capture_output=True, text=True).stdout.split()
    assert children, "wharf top is running"
    subprocess.run(["kill", "-TERM", *children], check=True)
    top.wait_for(lambda s: "WHARF-EXITED=0" in s)
    assert top.display("#{alternate_on}") == "0"


def test_bad_theme_is_a_clear_error(tmp_path):
    theme = tmp_path / "broken.theme"
    theme.write_text("name = broken\nbackground = #12345\n")
    result = subprocess.run([WHARF, "top", "--theme", str(theme)], capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "broken.theme:2" in result.stderr and "background" in result.stderr, result.stderr


def test_list_themes():
    result = subprocess.run([WHARF, "top", "--list-themes"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    names = set(result.stdout.split())
    assert {"default", "nord", "solarized-light", "mono"} <= names


def test_resize_relays_out_without_restarting(broker, tmux, uid):
    sub = paho(broker.port, f"{uid}-resize", clean=False)
    sub.subscribe(f"{uid}/r", 1)
    top = tmux(f"{WHARF} top --url http://127.0.0.1:{broker.metrics_port} --interval 0.5", width=140, height=40)
    wide = top.wait_for(lambda s: f"{uid}-resize" in s and "DEPTH HISTORY" in s)
    assert max(len(line) for line in wide.splitlines()) > 100
    subprocess.run(top.args + ["resize-window", "-t", "0", "-x", "80", "-y", "24"], check=True)
    # Relaid out for 80 columns: the optional columns go, the essential ones stay.
    narrow = top.wait_for(lambda s: "DEPTH HISTORY" not in s and any("QUEUE" in l and "LAG" in l for l in s.splitlines()))
    lines = narrow.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 80
    assert any(f"{uid}-resize"[:10] in line for line in lines)
    assert "q quit" in narrow
    subprocess.run(top.args + ["resize-window", "-t", "0", "-x", "30", "-y", "8"], check=True)
    top.wait_for(lambda s: "terminal too small" in s)
    top.keys("q")
    top.wait_for(lambda s: "WHARF-EXITED=0" in s)
    sub.disconnect()


def test_colour_depths_and_no_color(broker, tmux):
    def escapes(env):
        top = tmux(f"env {env} {WHARF} top --url http://127.0.0.1:{broker.metrics_port}")
        top.wait_for(lambda s: "wharf top" in s)
        time.sleep(0.5)
        captured = subprocess.run(top.args + ["capture-pane", "-p", "-e"], capture_output=True, text=True, check=True).stdout
        top.keys("q")
        top.wait_for(lambda s: "WHARF-EXITED=0" in s)
        return captured

    colour256 = escapes("TERM=tmux-256color")
    assert re.search(r"\x1b\[[0-9;]*38;5;\d+", colour256), "256-colour foregrounds"
    eight = escapes("TERM=screen")
    assert re.search(r"\x1b\[[0-9;]*3[0-7]m", eight) and not re.search(r"38;5;", eight), "8 colours only"
    mono = escapes("NO_COLOR=1 TERM=tmux-256color")
    assert not re.search(r"38;5;|\x1b\[3[0-7]m|\x1b\[4[0-7]m", mono), "NO_COLOR: no colour at all"
    assert "\x1b[7m" in mono or "7m" in mono, "the title bar and selection are reversed instead"


def test_demo_shows_moving_numbers_groups_and_quits(tmux):
    """The README's run command: a broker, synthetic traffic and the dashboard in one process."""
    demo = tmux(f"{WHARF} demo --interval 0.5")
    screen = demo.wait_for(lambda s: "warehouse" in s and "billing" in s and re.search(r"in \d[\d.]*k?/s", s), timeout=20)
    assert "wharf top" in screen and "disconnected" not in screen
    rate = float(re.search(r"in (\d[\d.]*)(k?)/s", screen).group(1))
    assert rate > 0, "live traffic within seconds"
    demo.keys("2")
    groups = demo.wait_for(lambda s: "fulfilment" in s and "indexers" in s)
    assert "fulfil-1" in groups and "orders/#" in groups
    demo.keys("q")
    demo.wait_for(lambda s: "WHARF-EXITED=0" in s, timeout=20)
    assert demo.display("#{alternate_on}") == "0"
