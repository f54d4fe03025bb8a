"""Regressions found by a second, independent test suite."""
import socket
import subprocess

import rawmqtt as raw
from conftest import WHARF, free_port
from mqttclients import paho


def test_deepest_topics_are_refused_not_crashing(broker, uid):
    deep = "/" * 65535  # 65,536 empty levels: within the 65,535-byte string limit
    c = raw.RawClient(broker.port)
    c.connect(f"{uid}-deep")
    c.send(raw.subscribe(1, (deep, 1), (f"{uid}/ok", 1)))
    suback = c.read()
    assert suback.body[2:] == bytes([0x80, 1]), "too deep: 0x80; the other filter is granted"
    c.send(raw.publish(deep, b"x", qos=1, pid=2))
    assert c.closed_by_broker(), "a publish deeper than max_topic_levels closes the connection"
    sub = paho(broker.port, f"{uid}-after")
    sub.subscribe(f"{uid}/t", 1)
    paho(broker.port, f"{uid}-pub").publish(f"{uid}/t", b"alive", qos=1)
    assert sub.get().payload == b"alive"
    assert "max_topic_levels" in broker.log()


def test_clients_cannot_forge_sys_topics(broker_factory, uid):
    b = broker_factory(extra_args=["--sys-interval", "1"])
    forger = paho(b.port, f"{uid}-f")
    forger.publish("$SYS/broker/version", b"forged", qos=1, retain=True)  # acknowledged, not stored
    watcher = paho(b.port, f"{uid}-w")
    watcher.subscribe("$SYS/broker/version", 0)
    assert watcher.get().payload.decode().startswith("wharf ")
    watcher.nothing_for(1.5)


def test_port_in_use_names_the_address(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([WHARF, "serve", "--port", str(port), "--metrics-port", str(free_port()), "--in-memory"],
                                capture_output=True, text=True, timeout=20)
    assert result.returncode != 0
    assert f"cannot listen for MQTT on 127.0.0.1:{port}: Address already in use" in result.stderr


def test_reconnect_right_after_disconnect_at_capacity(broker_factory, uid):
    b = broker_factory("[limits]\nmax_connections = 2\n")
    keep = raw.RawClient(b.port)
    keep.connect(f"{uid}-keep")
    for i in range(50):
        c = raw.RawClient(b.port)
        assert c.connect(f"{uid}-r")[:2] == (False, 0), f"refused on round {i}"
        c.send(raw.DISCONNECT_BYTES)
        assert c.closed_by_broker()
