"""Listeners: MQTT over TLS, mutual TLS, WebSocket and secure WebSocket,
each with the real clients a user would point at them (mosquitto_pub/sub
with --cafile/--cert/--key, paho-mqtt over TLS and websockets), the ways
a client gets it wrong, per-listener figures, and SIGHUP certificate reload."""
import json
import os
import queue
import signal
import socket
import ssl
import subprocess
import time
import urllib.request

import paho.mqtt.client as mqtt
import pytest

from certs import make_pki, renew_server
from conftest import free_port


@pytest.fixture
def pki(tmp_path):
    return make_pki(tmp_path / "pki")


def listeners_config(pki, *, tls_port=None, ws_port=None, wss_port=None, mtls_port=None, identity=None, extra=""):
    """The first listener is plain (its port comes from --port); the others as asked."""
    parts = ['[[listener]]\nbind = "127.0.0.1"\n']
    tls = f'tls_cert = "{pki.server_cert}"\ntls_key = "{pki.server_key}"\n'
    if tls_port:
        parts.append(f'[[listener]]\nport = {tls_port}\n{tls}')
    if ws_port:
        parts.append(f'[[listener]]\nport = {ws_port}\nprotocol = "websocket"\n')
    if wss_port:
        parts.append(f'[[listener]]\nport = {wss_port}\nprotocol = "websocket"\n{tls}')
    if mtls_port:
        parts.append(f'[[listener]]\nport = {mtls_port}\n{tls}tls_ca = "{pki.ca}"\nrequire_certificate = true\n'
                     + (f'use_identity_as_username = "{identity}"\n' if identity else ""))
    return "\n".join(parts) + extra


def snapshot(broker):
    with urllib.request.urlopen(f"http://127.0.0.1:{broker.metrics_port}/api/v1/snapshot", timeout=5) as r:
        return json.load(r)


def metrics(broker) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{broker.metrics_port}/metrics", timeout=5) as r:
        return r.read().decode()


def sub_one(broker, port, topic, *args):
    """mosquitto_sub for one message, subscribed (as the snapshot shows) before returning."""
    before = snapshot(broker)["subscriptions"]
    proc = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-C", "1", "-W", "10", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 10
    while snapshot(broker)["subscriptions"] <= before:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("mosquitto_sub did not subscribe: " + proc.communicate()[1])
        time.sleep(0.05)
    proc.broker, proc.baseline = broker, before
    return proc


def pub(port, topic, message, *args, check=True):
    return subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-m", message, "-q", "1",
                           *args], capture_output=True, text=True, timeout=20, check=check)


def received(proc):
    out, _ = proc.communicate(timeout=15)
    # A subscriber that exits has gone from the broker's count only once its
    # disconnect is processed; wait for that, or the next sub_one's baseline
    # still counts it and never sees its own subscription arrive.
    broker = getattr(proc, "broker", None)
    deadline = time.monotonic() + 5
    while broker and snapshot(broker)["subscriptions"] > proc.baseline and time.monotonic() < deadline:
        time.sleep(0.05)
    return out.splitlines()


class Paho:
    """paho-mqtt over TLS or websockets, messages into a queue."""

    def __init__(self, port, *, transport="tcp", ca=None, cert=None, key=None, version=mqtt.MQTTv311, client_id="",
                 path="/mqtt"):
        self.messages = queue.Queue()
        connected = queue.Queue()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=version, transport=transport)
        if transport == "websockets":
            self.client.ws_set_options(path=path)
        if ca:
            self.client.tls_set(ca_certs=str(ca), certfile=cert and str(cert), keyfile=key and str(key))
        self.client.on_message = lambda c, u, m: self.messages.put(m)
        self.client.on_connect = lambda c, u, flags, rc, props: connected.put(rc)
        self.client.connect("127.0.0.1", port, 30)
        self.client.loop_start()
        self.rc = connected.get(timeout=10)

    def subscribe(self, topic, qos=1):
        done = queue.Queue()
        self.client.on_subscribe = lambda c, u, mid, rcs, props: done.put(rcs)
        self.client.subscribe(topic, qos)
        return done.get(timeout=10)

    def publish(self, topic, payload, qos=1):
        info = self.client.publish(topic, payload, qos=qos)
        info.wait_for_publish(timeout=10)
        assert info.is_published()

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def test_mosquitto_clients_over_tls(broker_factory, pki, uid):
    tls_port = free_port()
    b = broker_factory(listeners_config(pki, tls_port=tls_port))
    tls = ["--cafile", str(pki.ca)]
    proc = sub_one(b, tls_port, f"{uid}/t", *tls)
    pub(tls_port, f"{uid}/t", "over tls", *tls)
    assert "over tls" in received(proc)
    # The plain listener still serves, and reaches TLS subscribers.
    proc = sub_one(b, tls_port, f"{uid}/u", *tls)
    pub(b.port, f"{uid}/u", "plain to tls")
    assert "plain to tls" in received(proc)


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
def test_tls_speaks_only_tls_1_2_and_1_3(broker_factory, pki):
    tls_port = free_port()
    broker_factory(listeners_config(pki, tls_port=tls_port))
    for version, ok in [(ssl.TLSVersion.TLSv1_2, True), (ssl.TLSVersion.TLSv1_3, True), (ssl.TLSVersion.TLSv1_1, False)]:
        context = ssl.create_default_context(cafile=str(pki.ca))
        context.minimum_version = context.maximum_version = version
        if version == ssl.TLSVersion.TLSv1_1:
            context.set_ciphers("ALL:@SECLEVEL=0")
        try:
            with socket.create_connection(("127.0.0.1", tls_port), timeout=5) as raw:
                with context.wrap_socket(raw, server_hostname="localhost") as tls:
                    assert ok, f"{version} was accepted"
                    assert tls.version() in ("TLSv1.2", "TLSv1.3")
        except (ssl.SSLError, ConnectionResetError) as error:
            assert not ok, f"{version} refused: {error}"


def test_paho_over_tls_websocket_and_secure_websocket(broker_factory, pki, uid):
    tls_port, ws_port, wss_port = free_port(), free_port(), free_port()
    b = broker_factory(listeners_config(pki, tls_port=tls_port, ws_port=ws_port, wss_port=wss_port))
    subscriber = Paho(wss_port, transport="websockets", ca=pki.ca, version=mqtt.MQTTv5)
    assert subscriber.rc == 0
    subscriber.subscribe(f"{uid}/#")
    publishers = [Paho(tls_port, ca=pki.ca), Paho(ws_port, transport="websockets"), Paho(b.port)]
    for index, publisher in enumerate(publishers):
        assert publisher.rc == 0
        publisher.publish(f"{uid}/{index}", f"message {index}" * 1000)
    got = sorted(subscriber.messages.get(timeout=10).payload.decode()[:9] for _ in publishers)
    assert got == ["message 0", "message 1", "message 2"]
    # The snapshot tells which listener each client came in on, and whether over TLS.
    clients = {c["listener"]: c["tls"] for c in snapshot(b)["clients"]}
    assert clients == {f"wss:{wss_port}": True, f"mqtts:{tls_port}": True, f"ws:{ws_port}": False, f"mqtt:{b.port}": False}
    text = metrics(b)
    for name, port in [("mqtts", tls_port), ("ws", ws_port), ("wss", wss_port), ("mqtt", b.port)]:
        assert f'wharf_listener_connections{{listener="{name}:{port}"' in text
    assert f'wharf_listener_connections{{listener="wss:{wss_port}",transport="websocket",tls="true"}} 1' in text
    for client in [subscriber, *publishers]:
        client.close()


def test_plain_mqtt_against_the_tls_port_and_tls_against_the_plain_port(broker_factory, pki, uid):
    tls_port = free_port()
    b = broker_factory(listeners_config(pki, tls_port=tls_port))
    plain = pub(tls_port, f"{uid}/t", "x", "-q", "0", check=False)
    assert plain.returncode != 0
    tls = pub(b.port, f"{uid}/t", "x", "--cafile", str(pki.ca), check=False)
    assert tls.returncode != 0
    assert "rror" in tls.stderr or "rror" in tls.stdout
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        listeners = {l["name"]: l for l in snapshot(b)["listeners"]}
        if listeners[f"mqtts:{tls_port}"]["refusedTotal"]["tls_handshake"] >= 1:
            break
        time.sleep(0.1)
    assert listeners[f"mqtts:{tls_port}"]["refusedTotal"]["tls_handshake"] >= 1
    assert f'wharf_listener_refused_total{{listener="mqtts:{tls_port}",reason="tls_handshake"}}' in metrics(b)
    # The broker serves on: a good TLS client still gets through.
    assert pub(tls_port, f"{uid}/t", "x", "--cafile", str(pki.ca)).returncode == 0


def ws_request(port, headers: dict[str, str], path="/mqtt") -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1"] + [f"{k}: {v}" for k, v in headers.items()]
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while chunk := s.recv(4096):
            data += chunk
            if b"\r\n\r\n" in data and not data.startswith(b"HTTP/1.1 101"):
                continue
            if data.startswith(b"HTTP/1.1 101") and b"\r\n\r\n" in data:
                break
        return data.decode(errors="replace")


UPGRADE = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
           "Sec-WebSocket-Version": "13"}


def test_websocket_upgrade_needs_the_mqtt_subprotocol_and_the_path(broker_factory, pki):
    ws_port = free_port()
    b = broker_factory(listeners_config(pki, ws_port=ws_port))
    accepted = ws_request(ws_port, {**UPGRADE, "Sec-WebSocket-Protocol": "mqtt"})
    assert accepted.startswith("HTTP/1.1 101"), accepted
    assert "sec-websocket-protocol: mqtt" in accepted.lower()
    no_protocol = ws_request(ws_port, UPGRADE)
    assert no_protocol.startswith("HTTP/1.1 400") and "subprotocol must be mqtt" in no_protocol, no_protocol
    wrong_path = ws_request(ws_port, {**UPGRADE, "Sec-WebSocket-Protocol": "mqtt"}, path="/other")
    assert wrong_path.startswith("HTTP/1.1 404") and "/mqtt" in wrong_path, wrong_path
    plain_http = ws_request(ws_port, {})
    assert plain_http.startswith("HTTP/1.1 426"), plain_http
    listeners = {l["name"]: l for l in snapshot(b)["listeners"]}
    assert listeners[f"ws:{ws_port}"]["refusedTotal"]["websocket_handshake"] == 3


def test_mutual_tls_refuses_clients_without_a_good_certificate(broker_factory, pki, uid):
    mtls_port = free_port()
    broker_factory(listeners_config(pki, mtls_port=mtls_port))
    ca = ["--cafile", str(pki.ca)]

    def with_cert(name):
        cert, key = pki.client(name)
        return [*ca, "--cert", str(cert), "--key", str(key)]

    assert pub(mtls_port, f"{uid}/t", "x", *with_cert("alice")).returncode == 0
    for args in [ca, with_cert("stranger"), with_cert("expired")]:
        result = pub(mtls_port, f"{uid}/t", "x", *args, check=False)
        assert result.returncode != 0, args
    # paho too: a certificate from another CA is refused at the handshake.
    cert, key = pki.client("stranger")
    # (Under TLS 1.3 the client finishes its side first and learns of the
    # refusal only when it reads: then it never sees a CONNACK.)
    with pytest.raises((ssl.SSLError, OSError, queue.Empty)):
        Paho(mtls_port, ca=pki.ca, cert=cert, key=key)


@pytest.mark.parametrize("identity,expected", [("cn", "alice"), ("san-dns", "alice.example"), ("san-email", "alice@example.com")])
def test_certificate_identity_is_the_user_name(broker_factory, pki, uid, tmp_path, identity, expected):
    """With allow_anonymous = false a certificate client needs no user name:
    its identity is one. The ACL grants only that identity a topic."""
    mtls_port = free_port()
    acl = tmp_path / f"acl-{identity}"
    acl.write_text(f"user {expected}\ntopic readwrite {uid}/#\n")
    b = broker_factory(listeners_config(pki, mtls_port=mtls_port, identity=identity,
                                        extra=f'\n[auth]\nallow_anonymous = false\nacl_file = "{acl}"\n'))
    cert, key = pki.client("alice")
    args = ["--cafile", str(pki.ca), "--cert", str(cert), "--key", str(key)]
    proc = sub_one(b, mtls_port, f"{uid}/t", *args)
    pub(mtls_port, f"{uid}/t", "by certificate", *args)
    assert "by certificate" in received(proc)
    # Another identity is not granted the topic: a different field would not have matched.
    acl.write_text(f"user someone-else\ntopic readwrite {uid}/#\n")
    b.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while "ACL file re-read" not in b.log():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    pub(mtls_port, f"{uid}/t", "now denied", *args)  # 3.1.1: acknowledged, and dropped
    assert snapshot(b)["authorizationDeniedTotal"]["publish"] == 1
    # Without a certificate identity, anonymous is still refused on the plain port.
    assert pub(b.port, f"{uid}/t", "x", check=False).returncode != 0


def test_a_key_readable_by_everyone_is_refused_at_start(tmp_path, pki):
    os.chmod(pki.server_key, 0o644)
    config = tmp_path / "wharf.toml"
    config.write_text(listeners_config(pki, tls_port=free_port()))
    from conftest import WHARF
    result = subprocess.run([WHARF, "serve", "--in-memory", "--port", str(free_port()), "--no-metrics", "--config", str(config)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert str(pki.server_key) in result.stderr and "readable by every user" in result.stderr, result.stderr


def server_certificate_cn(port, ca) -> str:
    context = ssl.create_default_context(cafile=str(ca))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            subject = dict(pair[0] for pair in tls.getpeercert()["subject"])
            return subject["commonName"]


def test_sighup_reloads_the_certificate_and_keeps_connections(broker_factory, pki, uid):
    tls_port = free_port()
    b = broker_factory(listeners_config(pki, tls_port=tls_port))
    assert server_certificate_cn(tls_port, pki.ca) == "localhost"
    subscriber = Paho(tls_port, ca=pki.ca)
    subscriber.subscribe(f"{uid}/t")
    renew_server(pki, "renewed")
    b.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while server_certificate_cn(tls_port, pki.ca) != "renewed":
        assert time.monotonic() < deadline, "the new certificate was not served after SIGHUP"
        time.sleep(0.1)
    # The connection made before the reload is still up and served.
    publisher = Paho(tls_port, ca=pki.ca)
    publisher.publish(f"{uid}/t", "after reload")
    assert subscriber.messages.get(timeout=10).payload == b"after reload"
    # A broken file is refused and the one in force stays.
    pki.server_cert.write_text("not a certificate\n")
    b.proc.send_signal(signal.SIGHUP)
    time.sleep(1)
    assert server_certificate_cn(tls_port, pki.ca) == "renewed"
    assert "keeping the TLS files in force" in b.log() and str(pki.server_cert) in b.log()
    assert b.proc.poll() is None
    subscriber.close()
    publisher.close()
