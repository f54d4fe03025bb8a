"""Helpers for the MQTT 5.0 tests: a paho v5 client whose received messages land
in a queue, mosquitto_pub/sub in v5 mode, the snapshot, and the `broker5` /
`broker5_factory` fixtures.

Reference mode: with WHARF_E2E_REFERENCE=mosquitto the fixtures start
mosquitto (MQTT 5 capable) on a free port instead of Wharf, so the tests of
plain MQTT 5.0 behaviour can be proved right against another broker. Tests of
Wharf-only features carry @wharf_only and are skipped there; the snapshot
helper returns None there (no metrics endpoint)."""
import json
import os
import pathlib
import queue
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.request

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from conftest import free_port, start_broker

REFERENCE = os.environ.get("WHARF_E2E_REFERENCE", "")
MOSQUITTO = os.environ.get("MOSQUITTO_BIN", shutil.which("mosquitto") or "/usr/sbin/mosquitto")

# A Wharf feature, or a choice the spec leaves open that mosquitto makes differently.
# WHARF_E2E_NO_SKIP=1 runs them against the reference anyway, to watch them fail where expected.
wharf_only = pytest.mark.skipif(REFERENCE != "" and not os.environ.get("WHARF_E2E_NO_SKIP"),
                                reason="Wharf-only behaviour, not checked against the reference broker")


class Mosquitto:
    """The reference broker, with the interface of conftest.Broker the tests use."""

    metrics_port = None

    def __init__(self, tmp_path: pathlib.Path, extra: str = ""):
        self.port = free_port()
        conf = tmp_path / f"mosquitto-{self.port}.conf"
        anonymous = "" if "allow_anonymous" in extra else "allow_anonymous true\n"
        if os.geteuid() == 0:  # else it drops to user mosquitto, who cannot read pytest's tmp files
            anonymous += "user root\n"
        conf.write_text(f"listener {self.port} 127.0.0.1\n{anonymous}persistence false\n"
                        f"log_dest stderr\nlog_type all\n{extra}\n")
        self.stderr_path = tmp_path / f"mosquitto-{self.port}.log"
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=self.stderr_path.open("w"))
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.proc.kill()
                    raise RuntimeError(f"mosquitto did not start:\n{self.stderr_path.read_text()}")
                time.sleep(0.05)

    def log(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stop(self, sig=signal.SIGTERM, timeout=10) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)


def _brokers(tmp_path):
    """(make, stop_all): make(config=Wharf TOML, mosquitto=extra mosquitto.conf lines) starts
    Wharf, or the reference broker under WHARF_E2E_REFERENCE=mosquitto."""
    started = []

    def make(config: str | None = None, mosquitto: str = "", extra_args=()):
        b = Mosquitto(tmp_path, mosquitto) if REFERENCE == "mosquitto" else start_broker(tmp_path, config, extra_args)
        started.append(b)
        return b

    def stop_all():
        for b in started:
            code = b.stop()
            assert code == 0, f"broker exited with {code}\n{b.log()[-3000:]}"

    return make, stop_all


@pytest.fixture
def broker5_factory(tmp_path):
    """Starts brokers (Wharf, or the reference); stops them and checks a clean exit."""
    make, stop_all = _brokers(tmp_path)
    yield make
    stop_all()


@pytest.fixture
def broker5(tmp_path):
    """A broker with the default config (Wharf, or the reference)."""
    make, stop_all = _brokers(tmp_path)
    yield make()
    stop_all()


def snapshot(broker):
    """Wharf's /api/v1/snapshot, or None for the reference broker (no such endpoint)."""
    if broker.metrics_port is None:
        return None
    with urllib.request.urlopen(f"http://127.0.0.1:{broker.metrics_port}/api/v1/snapshot", timeout=5) as r:
        return json.loads(r.read())


def props(packet_type, **values) -> Properties:
    """paho Properties from paho's attribute names, e.g. props(PacketTypes.PUBLISH, UserProperty=[("k", "v")])."""
    p = Properties(packet_type)
    for name, value in values.items():
        setattr(p, name, value)
    return p


def prop(properties, name, default=None):
    """A property of a received paho Properties (None when absent)."""
    return getattr(properties, name, default) if properties is not None else default


def paho5(port, client_id="", **kw) -> "Paho5":
    return Paho5(port, client_id, **kw)


class Paho5:
    """A paho MQTT 5.0 client whose received messages land in a queue.

    connect waits for the CONNACK and keeps its session present flag, reason
    code (an int) and properties; a refused CONNECT is recorded, not raised.
    paho never reconnects on its own here (reconnect_on_failure=False)."""

    def __init__(self, port, client_id="", clean_start=True, session_expiry=None, keepalive=60, will=None,
                 username=None, password=None, manual_ack=False, receive_maximum=None,
                 topic_alias_maximum=None, maximum_packet_size=None, request_problem_info=None,
                 connect_properties=None, max_inflight=20):
        self.messages = queue.Queue()
        self.connected = queue.Queue()
        self.disconnects = queue.Queue()
        self.acks = {}  # mid -> (reason code, properties) of PUBACK/PUBREC/PUBCOMP
        self.acked = threading.Condition()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5,
                                  manual_ack=manual_ack, reconnect_on_failure=False)
        # paho 2.2 ignores the broker's Receive Maximum (4.9 binds the client too): keep under
        # mosquitto's default 20, or pass the broker's value.
        self.client.max_inflight_messages_set(max_inflight)
        self.client.max_queued_messages_set(0)
        if will:
            topic, payload, qos, retain, *rest = will
            self.client.will_set(topic, payload, qos, retain, properties=rest[0] if rest else None)
        if username is not None:
            self.client.username_pw_set(username, password)
        self.client.on_message = lambda c, u, m: self.messages.put(m)
        self.client.on_connect = lambda c, u, flags, rc, p: self.connected.put((flags.session_present, rc.value, p))
        self.client.on_disconnect = lambda c, u, flags, rc, p: self.disconnects.put((rc.value, p))
        self.client.on_publish = self._on_publish
        cp = connect_properties or Properties(PacketTypes.CONNECT)
        for name, value in [("SessionExpiryInterval", session_expiry), ("ReceiveMaximum", receive_maximum),
                            ("TopicAliasMaximum", topic_alias_maximum), ("MaximumPacketSize", maximum_packet_size),
                            ("RequestProblemInformation", request_problem_info)]:
            if value is not None:
                setattr(cp, name, value)
        self.client.connect("127.0.0.1", port, keepalive, clean_start=clean_start, properties=cp)
        self.client.loop_start()
        try:
            self.session_present, self.rc, self.connack = self.connected.get(timeout=10)
        except queue.Empty:
            self.client.loop_stop()
            raise AssertionError("no CONNACK within 10 s")

    def _on_publish(self, client, userdata, mid, rc, properties):
        with self.acked:
            self.acks[mid] = (rc.value, properties)
            self.acked.notify_all()

    def subscribe(self, topic, qos=0, no_local=False, retain_as_published=False, retain_handling=0,
                  sub_id=None, properties=None):
        """SUBSCRIBE one filter; returns the SUBACK reason codes as ints."""
        done = queue.Queue()
        self.client.on_subscribe = lambda c, u, mid, rcs, p: done.put([rc.value for rc in rcs])
        options = mqtt.SubscribeOptions(qos=qos, noLocal=no_local, retainAsPublished=retain_as_published,
                                        retainHandling=retain_handling)
        if sub_id is not None:
            properties = properties or Properties(PacketTypes.SUBSCRIBE)
            properties.SubscriptionIdentifier = sub_id
        self.client.subscribe(topic, options=options, properties=properties)
        return done.get(timeout=10)

    def unsubscribe(self, *topics):
        """UNSUBSCRIBE; returns the UNSUBACK reason codes as ints."""
        done = queue.Queue()
        self.client.on_unsubscribe = lambda c, u, mid, rcs, p: done.put([rc.value for rc in rcs])
        self.client.unsubscribe(list(topics))
        return done.get(timeout=10)

    def publish(self, topic, payload, qos=0, retain=False, properties=None, wait=True):
        """PUBLISH; with wait and QoS > 0, waits for the flow to end and returns the
        PUBACK/PUBREC reason code (an int). Otherwise returns paho's MQTTMessageInfo."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        if not (wait and qos > 0):
            return info
        return self.ack_for(info.mid)[0]

    def ack_for(self, mid, timeout=10.0):
        """(reason code, properties) of the PUBACK/PUBREC answering packet `mid`."""
        deadline = time.monotonic() + timeout
        with self.acked:
            while mid not in self.acks:
                left = deadline - time.monotonic()
                assert left > 0, f"no acknowledgement for packet {mid}"
                self.acked.wait(left)
            return self.acks.pop(mid)

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

    def drain(self):
        out = []
        while True:
            try:
                out.append(self.messages.get_nowait())
            except queue.Empty:
                return out

    def nothing_for(self, seconds) -> bool:
        try:
            m = self.messages.get(timeout=seconds)
            raise AssertionError(f"unexpected message on {m.topic}: {m.payload!r}")
        except queue.Empty:
            return True

    def ack(self, message):
        self.client.ack(message.mid, message.qos)

    def server_disconnect(self, timeout=5.0):
        """Reason code (int) and properties of the broker's DISCONNECT (or of the lost connection)."""
        return self.disconnects.get(timeout=timeout)

    def disconnect(self, reason=None, properties=None):
        """DISCONNECT (reason: an int, e.g. 0x04 to have the will sent) and stop the loop,
        once paho wrote it and closed the socket (up to 5 s): a test that publishes
        next does not race its own DISCONNECT."""
        rc = ReasonCode(PacketTypes.DISCONNECT, identifier=reason) if reason is not None else None
        connected = self.client.is_connected()
        self.client.disconnect(reasoncode=rc, properties=properties)
        if connected:
            try:
                self.disconnects.get(timeout=5)
            except queue.Empty:
                pass
        self.client.loop_stop()

    def kill(self):
        """Close the socket without DISCONNECT (a crashed client)."""
        self.client.loop_stop()
        sock = self.client.socket()
        if sock is not None:
            sock.close()


def mosquitto_sub5(port, topic, count, qos=0, extra=(), timeout=10, fmt=None):
    """mosquitto_sub -V mqttv5 for `count` messages; returns the Popen. Default
    output is 'topic payload' lines, or `fmt` (-F) when given."""
    out = ["-F", fmt] if fmt else ["-v"]
    return subprocess.Popen(
        ["mosquitto_sub", "-V", "mqttv5", "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-q", str(qos),
         "-C", str(count), "-W", str(timeout), *out, *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def mosquitto_pub5(port, topic, message, qos=0, extra=()):
    return subprocess.run(
        ["mosquitto_pub", "-V", "mqttv5", "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-m", message,
         "-q", str(qos), *extra],
        capture_output=True, text=True, timeout=15)
