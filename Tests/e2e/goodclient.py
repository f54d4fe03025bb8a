"""Well-behaved traffic to run through a broker while a test attacks it.

GoodTraffic(broker, uid) is a context manager: on entry it connects a
persistent MQTT 5.0 QoS 1 subscriber (session expiry 300 s) and a QoS 1
publisher that sends at a fixed rate (200 msg/s by default), each payload
carrying a sequence number and the time it was handed to paho. On a clean exit
of the block it stops publishing, waits for the last acknowledgements and
deliveries, and asserts what a user of the broker would check:

- the broker process is still running;
- every message the publisher sent was acknowledged (PUBACK), and every
  acknowledged message reached the subscriber (duplicates are allowed at QoS 1);
- neither good client was disconnected;
- the publish -> receive latency has a p99 below `p99_bound` seconds (a
  functional bound against stalls of seconds, not a benchmark);
- wharf_messages_dropped_total{reason="queue_full"} did not grow.

The figures are kept in `.report` (a dict) for the test to print or check."""
import threading
import time
import urllib.request

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from prometheus_client.parser import text_string_to_metric_families


def metric(broker, name, **labels):
    """A sample's value from the broker's /metrics (None when absent)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{broker.metrics_port}/metrics", timeout=5) as r:
        text = r.read().decode()
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return None


def dropped_queue_full(broker) -> float:
    return metric(broker, "wharf_messages_dropped_total", reason="queue_full") or 0.0


def percentile(values, p):
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


class GoodTraffic:
    def __init__(self, broker, uid, rate=200, p99_bound=0.5, drain_timeout=10.0, min_duration=1.0,
                 username=None, password=None):
        self.broker, self.uid, self.rate = broker, uid, rate
        self.username, self.password = username, password
        self.p99_bound, self.drain_timeout, self.min_duration = p99_bound, drain_timeout, min_duration
        self.topic = f"{uid}/good"
        self.lock = threading.Lock()
        self.sent = []  # (seq, MQTTMessageInfo)
        self.received = {}  # seq -> latency in seconds (first delivery)
        self.duplicates = 0
        self.disconnects = []  # (which, reason code)
        self.stop_event = threading.Event()
        self.report = {}
        self.sub = self.pub = self.thread = None

    # --- the clients ---------------------------------------------------------------------------

    def _client(self, name, session_expiry):
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{self.uid}-good-{name}",
                             protocol=mqtt.MQTTv5, reconnect_on_failure=False)
        client.max_inflight_messages_set(20)
        client.max_queued_messages_set(0)
        connected = threading.Event()
        result = {}

        def on_connect(c, u, flags, rc, props):
            result["rc"] = rc.value
            connected.set()

        client.on_connect = on_connect
        if self.username is not None:
            client.username_pw_set(self.username, self.password)
        client.on_disconnect = lambda c, u, flags, rc, p: self.disconnects.append((name, rc.value))
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = session_expiry
        client.connect("127.0.0.1", self.broker.port, 30, clean_start=True, properties=props)
        client.loop_start()
        if not connected.wait(10) or result.get("rc") != 0:
            client.loop_stop()
            raise AssertionError(f"good {name} not connected: {result}")
        return client

    def _on_message(self, client, userdata, message):
        now = time.monotonic_ns()
        seq, stamp = (int(x) for x in message.payload.split(b" "))
        with self.lock:
            if seq in self.received:
                self.duplicates += 1
            else:
                self.received[seq] = (now - stamp) / 1e9

    def _publish_loop(self):
        start, seq = time.monotonic(), 0
        while not self.stop_event.is_set():
            due = start + seq / self.rate
            delay = due - time.monotonic()
            if delay > 0 and self.stop_event.wait(delay):
                break
            info = self.pub.publish(self.topic, f"{seq} {time.monotonic_ns()}".encode(), qos=1)
            with self.lock:
                self.sent.append((seq, info))
            seq += 1

    # --- context manager -----------------------------------------------------------------------

    def __enter__(self):
        try:
            return self._start()
        except BaseException:
            self.close()
            raise

    def _start(self):
        self.dropped_before = dropped_queue_full(self.broker)
        self.sub = self._client("sub", 300)
        subscribed = threading.Event()
        codes = []
        self.sub.on_subscribe = lambda c, u, mid, rcs, p: (codes.extend(rc.value for rc in rcs), subscribed.set())
        self.sub.on_message = self._on_message
        self.sub.subscribe(self.topic, qos=1)
        assert subscribed.wait(10) and codes == [1], f"good subscriber's SUBACK: {codes}"
        self.pub = self._client("pub", 0)
        self.started = time.monotonic()
        self.thread = threading.Thread(target=self._publish_loop, name="good-publisher", daemon=True)
        self.thread.start()
        return self

    def stop(self):
        """Stops publishing; waits for the last acknowledgements and deliveries."""
        if self.stop_event.is_set():
            return
        left = self.min_duration - (time.monotonic() - self.started)
        if left > 0:
            time.sleep(left)
        self.stop_event.set()
        self.thread.join(5)
        self.elapsed = time.monotonic() - self.started
        deadline = time.monotonic() + self.drain_timeout
        while time.monotonic() < deadline:
            with self.lock:
                acked = {seq for seq, info in self.sent if info.is_published()}
                pending = len(self.sent) - len(acked)
                missing = acked - self.received.keys()
            if not pending and not missing:
                break
            time.sleep(0.05)
        with self.lock:
            latencies = list(self.received.values())
            self.report = {
                "sent": len(self.sent), "acked": len(acked), "unacked": pending,
                "received": len(self.received), "duplicates": self.duplicates,
                "missing": sorted(missing), "elapsed": round(self.elapsed, 2),
                "p50": percentile(latencies, 0.50), "p99": percentile(latencies, 0.99),
                "max": max(latencies, default=None), "disconnects": list(self.disconnects),
            }

    def close(self):
        self.stop_event.set()
        for client in (self.pub, self.sub):
            if client is not None:
                try:
                    client.disconnect()
                except Exception:
                    pass
                client.loop_stop()

    def check(self):
        """The assertions listed in the module docstring."""
        r = self.report
        assert self.broker.proc.poll() is None, \
            f"the broker died (exit {self.broker.proc.poll()})\n{self.broker.log()[-3000:]}"
        assert not r["disconnects"], f"a good client was disconnected: {r}"
        assert r["sent"] >= self.rate * r["elapsed"] * 0.5, f"the good publisher could not keep its rate: {r}"
        assert r["unacked"] == 0, f"{r['unacked']} good messages never acknowledged: {r}"
        assert not r["missing"], f"{len(r['missing'])} acknowledged good messages lost: first {r['missing'][:10]} {r}"
        assert r["p99"] is not None and r["p99"] < self.p99_bound, f"good p99 latency over {self.p99_bound}s: {r}"
        dropped = dropped_queue_full(self.broker)
        assert dropped == self.dropped_before, f"queue_full drops grew {self.dropped_before} -> {dropped}"

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self.stop()
        finally:
            self.close()
        if exc_type is None:
            print(f"good traffic: {self.report}")
            self.check()
        return False
