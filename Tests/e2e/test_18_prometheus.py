"""End to end with a real Prometheus server: it scrapes Wharf every second
(OpenMetrics, as Prometheus asks first), loads the shipped alert rules, and
its query API returns the message rate and the consumer lag we produced."""
import json
import shutil
import subprocess
import threading
import time
import urllib.parse
import urllib.request

import pytest

from conftest import REPO, free_port
from mqttclients import paho

RATE = 40          # messages per second
SECONDS = 8


def api(port, path, **params):
    url = f"http://127.0.0.1:{port}{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def query(port, expr):
    result = api(port, "/api/v1/query", query=expr)["data"]["result"]
    return [float(r["value"][1]) for r in result]


def poll(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except (OSError, KeyError, ValueError):
            pass
        time.sleep(0.25)
    return predicate()


@pytest.fixture
def prometheus(tmp_path):
    started = []

    def start(metrics_port):
        port = free_port()
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            f"rule_files:\n  - {REPO / 'Exporters' / 'prometheus' / 'wharf-alerts.yml'}\n"
            "scrape_configs:\n  - job_name: wharf\n    static_configs:\n"
            f"      - targets: ['127.0.0.1:{metrics_port}']\n"
        )
        log = (tmp_path / "prometheus.log").open("w")
        proc = subprocess.Popen(
            [shutil.which("prometheus"), f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            stdout=log, stderr=subprocess.STDOUT,
        )
        started.append(proc)
        ready = poll(lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2).status == 200, 30)
        assert ready, (tmp_path / "prometheus.log").read_text()
        return port

    yield start
    for proc in started:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_prometheus_scrapes_rate_and_lag(broker, prometheus, uid):
    port = prometheus(broker.metrics_port)
    worker = f"{uid}-stopped"
    consumer = paho(broker.port, worker, clean=False)
    consumer.subscribe(f"{uid}/orders", 1)
    consumer.disconnect()  # a stopped consumer: everything published waits for it

    # The target is healthy: Prometheus parsed what Wharf served.
    def target_up():
        targets = api(port, "/api/v1/targets")["data"]["activeTargets"]
        return targets and targets[0]["health"] == "up"
    assert poll(target_up, 20), api(port, "/api/v1/targets")

    published = 0
    stop = threading.Event()

    def publish():
        nonlocal published
        pub = paho(broker.port, f"{uid}-pub")
        start = time.monotonic()
        while not stop.is_set() and time.monotonic() - start < SECONDS:
            pub.publish(f"{uid}/orders", b"order", qos=1)
            published += 1
            time.sleep(max(0.0, start + published / RATE - time.monotonic()))
        pub.disconnect()

    thread = threading.Thread(target=publish)
    thread.start()
    try:
        # While traffic flows, rate() over the last 5 s is close to RATE.
        def rate_seen():
            values = query(port, "rate(wharf_messages_received_total[5s])")
            return values and abs(values[0] - RATE) <= RATE * 0.25 and values[0]
        rate = poll(rate_seen, SECONDS + 2)
        assert rate, f"rate() never came near {RATE}/s: {query(port, 'rate(wharf_messages_received_total[5s])')}"
    finally:
        stop.set()
        thread.join(timeout=15)

    # After it stops, the lag gauge reports every message the stopped consumer owes.
    def lag_seen():
        values = query(port, f'wharf_queue_lag_messages{{queue="{worker}"}}')
        return values and values[0] == published
    assert poll(lag_seen, 10), (published, query(port, f'wharf_queue_lag_messages{{queue="{worker}"}}'))
    lag_seconds = query(port, f'wharf_queue_lag_seconds{{queue="{worker}"}}')
    assert lag_seconds and lag_seconds[0] > 0

    # The shipped alert rules loaded into the real server.
    groups = api(port, "/api/v1/rules")["data"]["groups"]
    names = {rule["name"] for group in groups for rule in group["rules"]}
    assert {"WharfConsumerLagHigh", "WharfQueueDepthGrowing", "WharfDown"} <= names
    assert all(rule["health"] in ("ok", "unknown") for group in groups for rule in group["rules"])
