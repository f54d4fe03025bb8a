"""Helpers around the real clients: paho-mqtt and mosquitto_pub/mosquitto_sub."""
import queue
import subprocess
import time

import paho.mqtt.client as mqtt


def paho(port, client_id="", clean=True, **kw) -> "PahoClient":
    return PahoClient(port, client_id, clean, **kw)


class PahoClient:
    """A paho v3.1.1 client whose received messages land in a queue."""

    def __init__(self, port, client_id, clean, will=None, username=None, password=None, keepalive=60):
        self.messages = queue.Queue()
        self.connected = queue.Queue()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  clean_session=clean, protocol=mqtt.MQTTv311)
        self.client.max_inflight_messages_set(100)
        self.client.max_queued_messages_set(0)
        if will:
            self.client.will_set(*will)
        if username is not None:
            self.client.username_pw_set(username, password)
        self.client.on_message = lambda c, u, m: self.messages.put(m)
        self.client.on_connect = lambda c, u, flags, rc, props: self.connected.put((flags.session_present, rc))
        self.closed = queue.Queue()
        self.client.on_disconnect = lambda c, u, flags, rc, props: self.closed.put(rc)
        self.client.connect("127.0.0.1", port, keepalive)
        self.client.loop_start()
        self.session_present, self.rc = self.connected.get(timeout=10)

    def subscribe(self, topic, qos=0):
        done = queue.Queue()
        self.client.on_subscribe = lambda c, u, mid, rcs, props: done.put(rcs)
        self.client.subscribe(topic, qos)
        return done.get(timeout=10)

    def publish(self, topic, payload, qos=0, retain=False, wait=True):
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if wait and qos > 0:
            info.wait_for_publish(timeout=10)
            assert info.is_published(), f"no acknowledgement for {topic}"
        return info

    def get(self, timeout=5.0):
        return self.messages.get(timeout=timeout)

    def get_all(self, count, timeout=10.0):
        out, deadline = [], time.monotonic() + timeout
        while len(out) < count and time.monotonic() < deadline:
            try:
                out.append(self.messages.get(timeout=max(0.01, deadline - time.monotonic())))
            except queue.Empty:
                break
        return out

    def nothing_for(self, seconds) -> bool:
        try:
            m = self.messages.get(timeout=seconds)
            raise AssertionError(f"unexpected message on {m.topic}: {m.payload!r}")
        except queue.Empty:
            return True

    def disconnect(self):
        """DISCONNECT and stop the loop, once paho wrote it and closed the socket (up to
        5 s): a test that publishes next does not race its own DISCONNECT."""
        connected = self.client.is_connected()
        self.client.disconnect()
        if connected:
            try:
                self.closed.get(timeout=5)
            except queue.Empty:
                pass
        self.client.loop_stop()


def mosquitto_sub(port, topic, count, qos=0, extra=(), timeout=10):
    """Starts mosquitto_sub for `count` messages; returns the Popen (stdout: 'topic payload' lines)."""
    return subprocess.Popen(
        ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-q", str(qos),
         "-C", str(count), "-W", str(timeout), "-v", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def mosquitto_pub(port, topic, message, qos=0, extra=()):
    return subprocess.run(
        ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-m", message,
         "-q", str(qos), *extra],
        capture_output=True, text=True, timeout=15)


def wait_subscribed(broker, client_id_fragment=None, delay=0.5):
    """mosquitto_sub has no 'subscribed' signal: give it a moment to SUBSCRIBE."""
    time.sleep(delay)
