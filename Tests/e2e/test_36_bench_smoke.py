"""scripts/bench --smoke: every scenario against Wharf, Mosquitto and NATS with
tiny counts. Checks that the script runs to its table and that Wharf loses no
QoS 1 message; no timing asserts (on a shared test machine the numbers mean
nothing, the script working does)."""
import os
import shutil
import subprocess

import pytest

from conftest import REPO, WHARF
from mqtt5clients import wharf_only

pytestmark = wharf_only  # it benchmarks Wharf; the peers are started by the script

# Debian installs both brokers in /usr/sbin, which is not on a user's PATH.
SEARCH_PATH = os.environ.get("PATH", "") + os.pathsep + "/usr/sbin"

SCENARIOS = {
    "fan-in": ["wharf", "wharf-off", "mosquitto", "nats"],
    "one-to-one": ["wharf", "wharf-off", "mosquitto", "nats"],
    "fan-out": ["wharf", "mosquitto", "nats"],
    "fixed-rate": ["wharf", "mosquitto", "nats"],
    "shared": ["wharf", "mosquitto", "nats"],
    "durable": ["wharf-durable", "mosquitto-durable", "nats"],
    "idle": ["wharf-idle", "mosquitto-idle", "nats-idle"],
}
QOS1 = {"one-to-one", "fixed-rate", "shared", "durable", "idle"}


def test_bench_smoke_runs_every_scenario_and_wharf_loses_nothing():
    missing = [tool for tool in ("mosquitto", "nats-server") if shutil.which(tool, path=SEARCH_PATH) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed (scripts/ensure-deps --test installs them)")
    # WHARF_BIN: the script uses this binary instead of building a release one.
    env = dict(os.environ, WHARF_BIN=os.path.abspath(WHARF))
    proc = subprocess.run([str(REPO / "scripts" / "bench"), "--smoke"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    output = proc.stdout + "\n" + proc.stderr
    assert proc.returncode == 0, output[-6000:]

    lines = proc.stdout.splitlines()
    for scenario, brokers in SCENARIOS.items():
        for broker in brokers:
            ran = [line for line in lines if line.startswith(f"{scenario} {broker} run 1: ")]
            assert ran, f"{scenario} did not run against {broker}\n{proc.stdout[-4000:]}"
            if scenario in QOS1 and broker.startswith("wharf"):
                assert " lost=0 " in ran[0], f"Wharf lost QoS 1 messages: {ran[0]}"
                assert "group=unsupported" not in ran[0], ran[0]
    assert "W / best" in proc.stdout, proc.stdout[-4000:]
    assert "/metrics render" in proc.stdout, proc.stdout[-4000:]
