"""Latency distributions, per-topic series and OpenMetrics, read from a live broker."""
import json
import time
import urllib.request

import pytest

from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from mqttclients import paho


def fetch(broker, path, accept=None):
    request = urllib.request.Request(f"http://127.0.0.1:{broker.metrics_port}{path}")
    if accept:
        request.add_header("Accept", accept)
    with urllib.request.urlopen(request, timeout=5) as r:
        return r.headers.get("Content-Type"), r.read().decode()


def samples(text, parser=parse_text):
    out = {}
    for family in parser(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(s, name, **labels):
    return s.get((name, frozenset(labels.items())))


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_latency_counts_equal_deliveries_and_acks(broker, uid):
    n = 60
    worker = f"{uid}-w"
    sub = paho(broker.port, worker, clean=False)
    sub.subscribe(f"{uid}/lat", 1)
    pub = paho(broker.port, f"{uid}-p")
    for i in range(n):
        pub.publish(f"{uid}/lat", str(i).encode(), qos=1)
    assert len(sub.get_all(n)) == n

    def acks_counted():
        s = samples(fetch(broker, "/metrics")[1])
        return value(s, "wharf_message_ack_latency_seconds_count") == n
    assert wait_for(acks_counted), "every PUBACK is counted in the ack latency"

    s = samples(fetch(broker, "/metrics")[1])
    delivered = value(s, "wharf_messages_delivered_total")
    assert delivered == n
    assert value(s, "wharf_message_delivery_latency_seconds_count") == delivered
    assert value(s, "wharf_message_delivery_latency_seconds_bucket", le="+Inf") == delivered
    assert 0 < value(s, "wharf_message_delivery_latency_seconds_sum") < n * 5
    # Buckets are cumulative: never decreasing with le.
    buckets = sorted((float(dict(k[1])["le"]), v) for k, v in s.items() if k[0] == "wharf_message_delivery_latency_seconds_bucket")
    assert [v for _, v in buckets] == sorted(v for _, v in buckets)
    # Bounds fine enough for a broker that delivers in tens of microseconds.
    assert [le for le, _ in buckets[:4]] == [0.00001, 0.000025, 0.00005, 0.0001]
    assert value(s, "wharf_queue_delivery_latency_seconds_count", queue=worker) == n
    assert value(s, "wharf_queue_ack_latency_seconds_count", queue=worker) == n
    assert value(s, "wharf_queue_ack_latency_seconds", queue=worker, quantile="0.99") > 0

    snap = json.loads(fetch(broker, "/api/v1/snapshot")[1])
    deliver = snap["latency"]["publishToDeliver"]
    assert deliver["count"] == n and deliver["windowCount"] == n
    assert 0 < deliver["p50"] <= deliver["p90"] <= deliver["p99"] <= deliver["p999"] <= deliver["max"] < 5
    assert deliver["buckets"][-1] == {"le": "+Inf", "count": n}
    queue = next(q for q in snap["queues"] if q["name"] == worker)
    assert queue["deliverLatency"]["count"] == n and queue["acknowledgeLatency"]["count"] == n
    sub.disconnect()
    pub.disconnect()


def test_queued_messages_show_their_wait_in_latency(broker, uid):
    """Messages that waited in an offline queue report that wait: the latency is the consumer's lag."""
    worker = f"{uid}-slow"
    sub = paho(broker.port, worker, clean=False)
    sub.subscribe(f"{uid}/q", 1)
    sub.disconnect()
    pub = paho(broker.port, f"{uid}-p")
    for i in range(5):
        pub.publish(f"{uid}/q", b"x", qos=1)
    time.sleep(0.6)
    back = paho(broker.port, worker, clean=False)
    assert len(back.get_all(5)) == 5
    snap = json.loads(fetch(broker, "/api/v1/snapshot")[1])
    assert snap["latency"]["publishToDeliver"]["p50"] >= 0.5
    queue = next(q for q in snap["queues"] if q["name"] == worker)
    assert queue["deliverLatency"]["p50"] >= 0.5
    back.disconnect()
    pub.disconnect()


def test_no_traffic_means_absent_quantiles(broker):
    snap = json.loads(fetch(broker, "/api/v1/snapshot")[1])
    deliver = snap["latency"]["publishToDeliver"]
    assert deliver["count"] == 0
    assert "p99" not in deliver and "max" not in deliver, "unknown is absent, not 0"


def test_topic_series_are_capped_and_prefixes_counted(broker_factory, uid):
    broker = broker_factory(config='[metrics]\ntopic_series_limit = 2\ntopic_prefixes = ["plant/"]\n')
    pub = paho(broker.port, f"{uid}-p")
    for topic, count in [("plant/a", 3), ("plant/b", 2), ("office/c", 4)]:
        for _ in range(count):
            pub.publish(topic, b"12345", qos=1)
    # A batch's per-topic counts are recorded just after its PUBACKs are
    # written: the last PUBACK can reach the client a moment before.
    deadline = time.monotonic() + 5
    while True:
        s = samples(fetch(broker, "/metrics")[1])
        if value(s, "wharf_topic_other_messages_published_total") == 4 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    tracked = {dict(k[1])["topic"]: v for k, v in s.items() if k[0] == "wharf_topic_messages_published_total"}
    assert tracked == {"plant/a": 3, "plant/b": 2}
    assert value(s, "wharf_topic_other_messages_published_total") == 4
    assert value(s, "wharf_topic_other_payload_published_bytes_total") == 20
    assert value(s, "wharf_topic_prefix_messages_published_total", prefix="plant/") == 5
    assert value(s, "wharf_topics_tracked") == 2
    pub.disconnect()


def test_bad_topic_prefix_config_is_refused(broker_factory):
    with pytest.raises(RuntimeError) as error:
        broker_factory(config='[metrics]\ntopic_prefixes = ["plant/#"]\n')
    assert "metrics.topic_prefixes" in str(error.value) and "wildcards" in str(error.value)


def test_openmetrics_when_asked(broker, uid):
    sub = paho(broker.port, f"{uid}-s", clean=False)
    sub.subscribe(f"{uid}/om", 1)
    paho(broker.port, f"{uid}-p").publish(f"{uid}/om", b"x", qos=1)
    assert sub.get_all(1)
    prometheus_accept = ("application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,"
                         "text/plain;version=0.0.4;q=0.3,*/*;q=0.2")
    content_type, text = fetch(broker, "/metrics", accept=prometheus_accept)
    assert content_type.startswith("application/openmetrics-text; version=1.0.0")
    assert text.endswith("# EOF\n")
    s = samples(text, parse_openmetrics)  # the strict OpenMetrics parser
    assert value(s, "wharf_messages_received_total") == 1
    build = [(dict(k[1]).get("version"), v) for k, v in s.items() if k[0] == "wharf_build_info"]
    assert len(build) == 1 and build[0][0] and build[0][1] == 1
    assert value(s, "wharf_message_delivery_latency_seconds_count") == 1
    # Without the header: the classic text format.
    content_type, text = fetch(broker, "/metrics")
    assert content_type.startswith("text/plain; version=0.0.4") and "# EOF" not in text
    sub.disconnect()
