"""The metrics endpoints, read the way Prometheus and scripts read them."""
import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mqttclients import paho


def get(broker, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{broker.metrics_port}{path}", timeout=5) as r:
        return r.status, r.headers.get("Content-Type"), r.read().decode()


def samples(text):
    """{(name, frozenset(labels)): value} from a real Prometheus parser."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def queue_value(text, name, queue):
    return samples(text).get((name, frozenset({("queue", queue)})))


def test_depth_and_lag_with_stopped_consumer_then_drained(broker, uid):
    worker = f"{uid}-worker"
    consumer = paho(broker.port, worker, clean=False)
    consumer.subscribe(f"{uid}/jobs", 1)
    consumer.disconnect()  # the consumer is stopped
    pub = paho(broker.port, f"{uid}-pub")
    for i in range(25):
        pub.publish(f"{uid}/jobs", str(i).encode(), qos=1)
    time.sleep(0.2)

    _, content_type, text = get(broker, "/metrics")
    assert content_type.startswith("text/plain; version=0.0.4")
    assert queue_value(text, "wharf_queue_depth", worker) == 25
    assert queue_value(text, "wharf_queue_lag_messages", worker) == 25
    assert queue_value(text, "wharf_queue_lag_seconds", worker) > 0
    assert queue_value(text, "wharf_queue_consumers", worker) == 0

    _, _, body = get(broker, "/api/v1/snapshot")
    snap = json.loads(body)
    queue = next(q for q in snap["queues"] if q["name"] == worker)
    assert (queue["depth"], queue["lagMessages"], queue["consumers"]) == (25, 25, 0)
    assert queue["lagSeconds"] > 0 and queue["oldestMessageAgeSeconds"] > 0

    back = paho(broker.port, worker, clean=False)
    assert len(back.get_all(25)) == 25
    time.sleep(0.3)  # the PUBACKs reach the broker
    _, _, text = get(broker, "/metrics")
    assert queue_value(text, "wharf_queue_depth", worker) == 0
    assert queue_value(text, "wharf_queue_lag_messages", worker) == 0
    assert queue_value(text, "wharf_queue_acknowledged_total", worker) == 25
    assert queue_value(text, "wharf_queue_oldest_message_age_seconds", worker) is None, "empty: absent, not 0"
    s = samples(text)
    assert s[("wharf_messages_received_total", frozenset())] >= 25
    assert s[("wharf_sessions", frozenset({("state", "online")}))] >= 2


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool comes with Debian's prometheus package (scripts/ensure-deps)")
def test_promtool_accepts_real_output(broker, uid):
    sub = paho(broker.port, f"{uid}-p", clean=False)
    sub.subscribe(f"{uid}/t", 1)
    sub.disconnect()
    paho(broker.port, f"{uid}-pub").publish(f"{uid}/t", b"x", qos=1)
    _, _, text = get(broker, "/metrics")
    result = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and result.stdout.strip() == "" and result.stderr.strip() == "", result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool comes with Debian's prometheus package (scripts/ensure-deps)")
def test_promtool_accepts_durable_output(broker_factory, uid):
    """A durable broker with a quota writes every storage family; promtool accepts them."""
    broker = broker_factory(extra_args=["--storage-quota", "1GiB"])
    sub = paho(broker.port, f"{uid}-p", clean=False)
    sub.subscribe(f"{uid}/t", 1)
    sub.disconnect()
    paho(broker.port, f"{uid}-pub").publish(f"{uid}/t", b"x", qos=1)
    time.sleep(0.2)  # the writer publishes its figures after the commit that acknowledged the message
    _, _, text = get(broker, "/metrics")
    s = samples(text)
    assert s[("wharf_storage_quota_bytes", frozenset())] == 1 << 30
    assert s[("wharf_storage_full", frozenset())] == 0
    assert s[("wharf_storage_commits_total", frozenset())] >= 1
    assert s[("wharf_storage_stored_messages", frozenset())] >= 1
    assert s[("wharf_storage_fsync_duration_seconds_count", frozenset())] >= 1  # fsync always, the default
    result = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and result.stdout.strip() == "" and result.stderr.strip() == "", result.stdout + result.stderr


def test_no_storage_series_in_memory(broker_factory):
    """--in-memory: the storage section is absent from /metrics and from the JSON."""
    broker = broker_factory(extra_args=["--in-memory"])
    assert "wharf_storage" not in get(broker, "/metrics")[2]
    assert "storage" not in json.loads(get(broker, "/api/v1/snapshot")[2])


def test_counters_by_reason_and_type(broker, uid):
    import rawmqtt as raw
    bad = raw.RawClient(broker.port)
    bad.connect(f"{uid}-bad")
    bad.send(raw.publish("a/+", b"x"))
    assert bad.closed_by_broker()
    v6 = raw.RawClient(broker.port)
    v6.connect(f"{uid}-v6", level=6)
    time.sleep(0.2)
    s = samples(get(broker, "/metrics")[2])
    assert s[("wharf_malformed_packets_total", frozenset())] == 2
    assert s[("wharf_connections_closed_by_server_total", frozenset({("reason", "malformed_packet")}))] == 1
    assert s[("wharf_connections_rejected_total", frozenset({("reason", "unsupported_protocol")}))] == 1
    assert s[("wharf_packets_received_total", frozenset({("type", "connect")}))] >= 1
    assert s[("process_resident_memory_bytes", frozenset())] > 1_000_000


def test_health_readiness_and_unknown_paths(broker):
    assert get(broker, "/healthz")[0] == 200
    assert get(broker, "/readyz")[2] == "ready\n"
    with pytest.raises(urllib.error.HTTPError) as e:
        get(broker, "/nope")
    assert e.value.code == 404


def test_no_metrics_flag_turns_listener_off(broker_factory):
    b = broker_factory(extra_args=["--no-metrics"])
    with pytest.raises(urllib.error.URLError):
        get(b, "/metrics")
