"""The files in Exporters/: valid for promtool, alert rules unit-tested, and
every PromQL expression (alerts and Grafana) names only metrics Wharf emits."""
import json
import pathlib
import subprocess
import time
import urllib.request

import yaml

from conftest import REPO, start_broker
from natscluster import nats_cluster  # noqa: F401  (the fixture)
from mqttclients import paho
from promql import metric_names
from scrapeconfig import commented_jobs

PROMETHEUS_DIR = REPO / "Exporters" / "prometheus"
DASHBOARD = REPO / "Exporters" / "grafana" / "wharf-overview.json"
# Series Prometheus makes itself for every scrape target.
PROMETHEUS_SYNTHETIC = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}


def promtool(*args, cwd=PROMETHEUS_DIR):
    result = subprocess.run(["promtool", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_scrape_config_and_rules_are_valid():
    out = promtool("check", "config", "prometheus.yml")
    assert "SUCCESS" in out and "wharf-alerts.yml" in out


def test_commented_secure_jobs_are_valid(tmp_path):
    # The TLS + token and basic auth jobs, uncommented as a user would, with
    # the files they name beside them (promtool checks that those exist).
    for name in ("wharf-ca.crt", "wharf-metrics.token", "wharf-metrics.password"):
        (tmp_path / name).write_text("placeholder\n")
    for kind, job in commented_jobs().items():
        (tmp_path / f"{kind}.yml").write_text("scrape_configs:\n" + job)
        out = promtool("check", "config", f"{kind}.yml", cwd=tmp_path)
        assert "SUCCESS" in out, kind


def test_alert_rules_pass_their_unit_tests():
    out = promtool("test", "rules", "wharf-alerts.test.yml")
    assert "SUCCESS" in out


def test_every_alert_has_a_firing_test():
    rules = yaml.safe_load((PROMETHEUS_DIR / "wharf-alerts.yml").read_text())
    tests = yaml.safe_load((PROMETHEUS_DIR / "wharf-alerts.test.yml").read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    fired = {c["alertname"] for t in tests["tests"] for c in t.get("alert_rule_test", []) if c.get("exp_alerts")}
    assert alerts == fired
    wanted = {"WharfDown", "WharfConsumerLagHigh", "WharfGroupLagHigh", "WharfDeadLetters", "WharfQueueDepthGrowing", "WharfDeliveryLatencyHigh",
              "WharfMessagesDropped", "WharfConnectionsNearLimit", "WharfStorageFull", "WharfStorageNearQuota", "WharfStorageWriteErrors"}
    assert wanted <= alerts


def dashboard_expressions(dashboard):
    exprs = []

    def panels(items):
        for panel in items:
            yield panel
            yield from panels(panel.get("panels", []))

    for panel in panels(dashboard["panels"]):
        exprs += [t["expr"] for t in panel.get("targets", []) if t.get("expr")]
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        if variable.get("type") == "query":
            exprs.append(query["query"] if isinstance(query, dict) else query)
    return exprs


def test_dashboard_shape():
    dashboard = json.loads(DASHBOARD.read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    assert variables["instance"]["type"] == "query"
    exprs = dashboard_expressions(dashboard)
    assert len(exprs) >= 20
    text = json.dumps(dashboard)
    for needed in ["wharf_queue_lag_seconds", "wharf_queue_depth", "wharf_message_delivery_latency_seconds_bucket",
                   "wharf_messages_dropped_total", "wharf_connections", "wharf_messages_received_total"]:
        assert needed in text
    assert any(p.get("type") == "heatmap" for p in dashboard["panels"])
    for expr in exprs:
        if "wharf_" in expr and "label_values" not in expr and "$instance" not in expr and "${instance" not in expr:
            raise AssertionError(f"not filtered by $instance: {expr}")


def emitted_names(broker, uid):
    """Every metric name a broker with traffic of every kind really emits."""
    sub = paho(broker.port, f"{uid}-q", clean=False)
    sub.subscribe("plant/#", 1)
    member = paho(broker.port, f"{uid}-member")
    member.subscribe("$share/workers/plant/#", 1)  # a consumer group, so its series exist
    pub = paho(broker.port, f"{uid}-p")
    for i in range(5):
        pub.publish(f"plant/{i}", b"x", qos=1)
    assert len(sub.get_all(5)) == 5
    sub.disconnect()
    pub.publish("plant/offline", b"y", qos=1)  # waits in the queue: oldest-message age exists
    time.sleep(0.3)
    with urllib.request.urlopen(f"http://127.0.0.1:{broker.metrics_port}/metrics", timeout=5) as r:
        text = r.read().decode()
    pub.disconnect()
    member.disconnect()
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}


def cluster_node_names(nats_cluster, tmp_path, uid) -> set[str]:
    """What a node in cluster mode emits beyond a single node: the
    wharf_cluster_* series (after one route and one retained write, so the
    JetStream latency has values)."""
    from test_47_cluster_nats_oracle import cluster_config, wait_ready
    node = start_broker(tmp_path, cluster_config(f"names-{uid}", nats_cluster.urls), extra_args=["--in-memory"])
    try:
        wait_ready(node)
        client = paho(node.port, f"{uid}-cluster")
        client.subscribe("plant/#", 1)
        client.publish("plant/r", b"x", qos=1, retain=True)
        client.disconnect()
        with urllib.request.urlopen(f"http://127.0.0.1:{node.metrics_port}/metrics", timeout=5) as r:
            text = r.read().decode()
    finally:
        node.stop()
    names = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}
    assert "wharf_cluster_ready" in names and "wharf_cluster_nats_round_trip_seconds" in names, sorted(names)
    return names


def test_promql_names_only_emitted_metrics(broker_factory, uid, nats_cluster, tmp_path):
    # Durable (the default) and with a quota, so every storage series exists,
    # the quota's included; and a cluster node for the wharf_cluster_* series.
    broker = broker_factory(config='[metrics]\ntopic_series_limit = 2\ntopic_prefixes = ["plant/"]\n',
                            extra_args=["--storage-quota", "1GiB"])
    emitted = emitted_names(broker, uid) | PROMETHEUS_SYNTHETIC | cluster_node_names(nats_cluster, tmp_path, uid)
    rules = yaml.safe_load((PROMETHEUS_DIR / "wharf-alerts.yml").read_text())
    exprs = [("wharf-alerts.yml", r["expr"]) for g in rules["groups"] for r in g["rules"]]
    exprs += [("wharf-overview.json", e) for e in dashboard_expressions(json.loads(DASHBOARD.read_text()))]
    unknown = {(where, name) for where, expr in exprs for name in metric_names(expr) if name not in emitted}
    assert not unknown, f"names no Wharf exporter emits: {sorted(unknown)}"
    # And the check has teeth: the extractor finds names in every expression.
    assert all(metric_names(expr) for _, expr in exprs)
