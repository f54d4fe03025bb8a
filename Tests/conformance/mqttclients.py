"""The real clients: paho-mqtt (2.x, callback API v2) and Debian's
mosquitto_pub / mosquitto_sub. Every wait is bounded; every client and
subprocess a test starts is closed by the fixtures at the end of the test."""
import queue
import subprocess
import threading
import time

import paho.mqtt.client as mqtt

_LIVE: list = []
_PROCS: list = []


def close_all():
    while _LIVE:
        _LIVE.pop().close()
    while _PROCS:
        p = _PROCS.pop()
        if p.poll() is None:
            p.kill()
        try:
            p.communicate(timeout=5)
        except Exception:
            pass


def paho(port, client_id, clean=True, **kw) -> "PahoClient":
    return PahoClient(port, client_id, clean, **kw)


class PahoClient:
    """A paho MQTT 3.1.1 (or 3.1) client on its own network thread; what it
    receives lands in a queue. It does not reconnect by itself: tests decide
    when a client comes back."""

    def __init__(self, port, client_id, clean=True, will=None, username=None, password=None,
                 keepalive=60, protocol=mqtt.MQTTv311, inflight=100, expect_rc=0):
        self.messages = queue.Queue()
        self.connected = queue.Queue()
        self.disconnected = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  clean_session=clean, protocol=protocol, reconnect_on_failure=False)
        self.client.max_inflight_messages_set(inflight)
        self.client.max_queued_messages_set(0)
        if will:
            self.client.will_set(*will)
        if username is not None:
            self.client.username_pw_set(username, password)
        self.client.on_message = lambda c, u, m: self.messages.put(m)
        self.client.on_connect = lambda c, u, flags, rc, props: self.connected.put((flags.session_present, rc))
        self.client.on_disconnect = lambda *a: self.disconnected.set()
        _LIVE.append(self)
        self.client.connect("127.0.0.1", port, keepalive)
        self.client.loop_start()
        self.session_present, self.rc = self.connected.get(timeout=10)
        if expect_rc is not None:
            assert self.rc == expect_rc, f"CONNACK {self.rc} for {client_id}"

    def subscribe(self, topic, qos=0):
        """SUBSCRIBE one filter (or a list of (filter, qos)); returns the granted codes as ints."""
        done = queue.Queue()
        self.client.on_subscribe = lambda c, u, mid, rcs, props: done.put(rcs)
        if isinstance(topic, list):
            result, _ = self.client.subscribe(topic)
        else:
            result, _ = self.client.subscribe(topic, qos)
        assert result == mqtt.MQTT_ERR_SUCCESS
        return [rc.value for rc in done.get(timeout=10)]

    def unsubscribe(self, topic):
        done = threading.Event()
        self.client.on_unsubscribe = lambda *a: done.set()
        self.client.unsubscribe(topic)
        assert done.wait(10), "no UNSUBACK"

    def publish(self, topic, payload, qos=0, retain=False, wait=True):
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if wait:
            info.wait_for_publish(timeout=10)
            assert info.is_published(), f"publish to {topic} not completed (qos {qos})"
        return info

    def get(self, timeout=5.0):
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no message within {timeout}s") from None

    def get_all(self, count, timeout=10.0):
        """Up to `count` messages, waiting at most `timeout` in all."""
        out, deadline = [], time.monotonic() + timeout
        while len(out) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                out.append(self.messages.get(timeout=remaining))
            except queue.Empty:
                break
        return out

    def assert_nothing_for(self, seconds):
        try:
            m = self.messages.get(timeout=seconds)
        except queue.Empty:
            return
        raise AssertionError(f"unexpected message on {m.topic}: {m.payload!r} (qos {m.qos}, retain {m.retain})")

    def disconnect(self):
        """A clean DISCONNECT, waited for."""
        self.client.disconnect()
        self.disconnected.wait(5)
        self.client.loop_stop()

    def close(self):
        try:
            self.client.disconnect()
        except Exception:
            pass
        self.client.loop_stop()


class MosquittoSub:
    """mosquitto_sub in the background. Runs with -d so the test can wait for
    its SUBACK instead of sleeping; each message is one 'MSG|topic|qos|retain|payload'
    line (-F). It exits after `count` messages or `timeout` seconds. stdbuf
    makes its stdout line-buffered (a pipe is block-buffered otherwise)."""

    def __init__(self, port, topics, count, qos=0, extra=(), timeout=10):
        topics = [topics] if isinstance(topics, str) else list(topics)
        args = ["stdbuf", "-oL", "mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-q", str(qos), "-d",
                "-C", str(count), "-W", str(timeout), "-F", "MSG|%t|%q|%r|%p"]
        for t in topics:
            args += ["-t", t]
        self.proc = subprocess.Popen([*args, *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, errors="replace")
        _PROCS.append(self.proc)
        self.lines = queue.Queue()
        self.output = []
        self.subscribed = threading.Event()
        self.thread = threading.Thread(target=self._pump, daemon=True)
        self.thread.start()

    def _pump(self):
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            self.output.append(line)
            if line.startswith("Subscribed (mid"):
                self.subscribed.set()
            if line.startswith("MSG|"):
                self.lines.put(line)

    def wait_subscribed(self, timeout=10):
        assert self.subscribed.wait(timeout), f"mosquitto_sub got no SUBACK: {self.output}"

    def messages(self, timeout=20):
        """Waits for the process to exit; returns [(topic, qos, retain, payload)]."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self.thread.join(timeout=5)
        out = []
        while not self.lines.empty():
            _, topic, qos, retain, payload = self.lines.get().split("|", 4)
            out.append((topic, int(qos), int(retain), payload))
        return out

    @property
    def returncode(self):
        return self.proc.returncode


def mosquitto_sub(port, topics, count, qos=0, extra=(), timeout=10, wait=True) -> MosquittoSub:
    sub = MosquittoSub(port, topics, count, qos, extra, timeout)
    if wait:
        sub.wait_subscribed()
    return sub


def mosquitto_pub(port, topic, message=None, qos=0, extra=(), stdin=None):
    args = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-q", str(qos)]
    if message is not None:
        args += ["-m", message]
    return subprocess.run([*args, *extra], capture_output=True, text=True, input=stdin, timeout=20)
