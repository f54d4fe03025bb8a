"""Authorization with a Mosquitto-format ACL file (issue 16, point 4): each
action (publish, subscribe, receive) allowed and denied, in 3.1.1 and 5.0,
with the codes each version gets; `%u` and `%c` patterns; `$SYS` only with a
grant; every denial counted and logged once; SIGHUP re-reads the file and a
broken one is refused. The same file works with Debian's mosquitto."""
import json
import signal
import socket
import subprocess
import time
import urllib.request

import rawmqtt as r
from conftest import WHARF
from mqtt5clients import Mosquitto
from mqttclients import mosquitto_pub, mosquitto_sub

ACL = """# Mosquitto's format, unchanged
user alice
topic readwrite sensors/#
topic read $SYS/#

user bob
topic read sensors/#
topic deny sensors/secret
topic write commands/+

pattern readwrite clients/%c/#
pattern read users/%u/#
"""


def snapshot(broker):
    with urllib.request.urlopen(f"http://127.0.0.1:{broker.metrics_port}/api/v1/snapshot", timeout=5) as resp:
        return json.load(resp)


def metrics(broker):
    with urllib.request.urlopen(f"http://127.0.0.1:{broker.metrics_port}/metrics", timeout=5) as resp:
        return resp.read().decode()


def start(broker_factory, tmp_path, acl=ACL, extra=""):
    path = tmp_path / "acl"
    path.write_text(acl)
    return broker_factory(f'[auth]\nacl_file = "{path}"\n{extra}'), path


def client(broker, client_id, user, version):
    c = r.RawClient(broker.port, version=version)
    assert c.connect(client_id, username=user)[1] == 0
    return c


def nothing_arrives(c, seconds=0.5):
    try:
        p = c.read(timeout=seconds)
    except socket.timeout:
        return True
    raise AssertionError(f"unexpected {p}")


def test_publish_allowed_and_denied_in_both_versions(broker_factory, tmp_path, uid):
    b, _ = start(broker_factory, tmp_path)
    watcher = client(b, f"{uid}-alice", "alice", 5)
    assert watcher.subscribe(1, ("sensors/#", 1)) == [1]
    for version in (5, 4):
        bob = client(b, f"{uid}-bob{version}", "bob", version)
        reason, props = bob.publish_acked(f"sensors/{version}", b"from bob", qos=1, pid=1)
        assert reason == (0x87 if version == 5 else 0), "5.0 is told; 3.1.1 is acknowledged and dropped"
        if version == 5:
            assert "not authorized" in props.get(r.REASON_STRING, "")
        # QoS 2: 5.0 ends the exchange at PUBREC 0x87; 3.1.1 completes it and drops the message.
        assert bob.publish_acked(f"sensors/{version}", b"q2", qos=2, pid=2)[0] == (0x87 if version == 5 else 0)
        assert nothing_arrives(watcher)
        # What bob may write goes through.
        assert bob.publish_acked("commands/lights", b"on", qos=1, pid=3)[0] < 0x80
        bob.close()
    alice = client(b, f"{uid}-alice-pub", "alice", 4)
    alice.publish_acked("sensors/t", b"from alice", qos=1, pid=1)
    assert watcher.read_type(r.PUBLISH).publish_fields()[3] == b"from alice"
    denied = snapshot(b)["authorizationDeniedTotal"]
    assert denied["publish"] == 4
    assert 'wharf_authorization_denied_total{action="publish"} 4' in metrics(b)
    # Logged once per client and topic, with the user and the client id.
    log = b.log()
    assert log.count("not authorized to publish sensors/5") == 1
    assert f"client={uid}-bob5" in log and "user=bob" in log


def test_subscribe_denied_gets_0x87_or_0x80(broker_factory, tmp_path, uid):
    b, _ = start(broker_factory, tmp_path)
    for version, refused in ((5, 0x87), (4, 0x80)):
        bob = client(b, f"{uid}-bob{version}", "bob", version)
        codes = bob.subscribe(1, ("sensors/+/temp", 1), ("commands/#", 1), ("#", 0), ("$share/g/sensors/#", 1))
        assert codes == [1, refused, refused, 1], codes
        bob.close()
    assert snapshot(b)["authorizationDeniedTotal"]["subscribe"] == 4


def test_receive_is_checked_and_deny_wins(broker_factory, tmp_path, uid):
    b, _ = start(broker_factory, tmp_path)
    bob = client(b, f"{uid}-bob", "bob", 4)
    assert bob.subscribe(1, ("sensors/#", 0)) == [0]
    alice = client(b, f"{uid}-alice", "alice", 4)
    assert alice.subscribe(1, ("sensors/#", 0)) == [0]
    alice.send(r.publish("sensors/secret", b"hidden") + r.publish("sensors/open", b"seen"))
    assert bob.read_type(r.PUBLISH).publish_fields()[0] == "sensors/open"
    assert [alice.read_type(r.PUBLISH).publish_fields()[0] for _ in range(2)] == ["sensors/secret", "sensors/open"]
    # Retained messages on subscribe are checked too.
    alice.publish_acked("sensors/secret", b"retained", qos=1, pid=2, retain=True)
    late = client(b, f"{uid}-bob-late", "bob", 4)
    late.subscribe(1, ("sensors/#", 0))
    assert nothing_arrives(late)
    assert snapshot(b)["authorizationDeniedTotal"]["receive"] >= 2


def test_patterns_substitute_client_id_and_user(broker_factory, tmp_path, uid):
    b, _ = start(broker_factory, tmp_path)
    dev = client(b, "dev1", "carol", 5)
    assert dev.publish_acked("clients/dev1/status", b"ok", qos=1, pid=1)[0] < 0x80
    assert dev.publish_acked("clients/dev2/status", b"no", qos=1, pid=2)[0] == 0x87
    assert dev.subscribe(3, ("users/carol/#", 1), ("users/bob/#", 1)) == [1, 0x87]
    # An anonymous client gets no %u rules.
    anon = r.RawClient(b.port, version=5)
    anon.connect("dev3")
    assert anon.subscribe(1, ("users/#", 1)) == [0x87]
    assert anon.publish_acked("clients/dev3/x", b"mine", qos=1, pid=2)[0] < 0x80


def test_sys_only_with_a_grant(broker_factory, tmp_path, uid):
    b, _ = start(broker_factory, tmp_path, extra="")
    bob = client(b, f"{uid}-bob", "bob", 5)
    assert bob.subscribe(1, ("$SYS/#", 0)) == [0x87]
    alice = client(b, f"{uid}-alice", "alice", 5)
    assert alice.subscribe(1, ("$SYS/broker/uptime", 0)) == [0]


def test_mosquitto_clients_and_the_same_file_in_mosquitto(broker_factory, tmp_path, uid):
    b, path = start(broker_factory, tmp_path)
    sub = mosquitto_sub(b.port, "sensors/#", 1, extra=["-u", "alice", "-i", f"{uid}-s"])
    time.sleep(0.5)
    assert mosquitto_pub(b.port, "sensors/a", "denied", extra=["-u", "bob"]).returncode == 0  # 3.1.1: acked, dropped
    assert mosquitto_pub(b.port, "sensors/a", "allowed", extra=["-u", "alice"]).returncode == 0
    out, _ = sub.communicate(timeout=15)
    assert out.split() == ["sensors/a", "allowed"]
    # Debian's mosquitto reads the same file and decides the same.
    m = Mosquitto(tmp_path, f"acl_file {path}\nallow_anonymous true")
    try:
        sub = mosquitto_sub(m.port, "sensors/#", 1, extra=["-u", "alice", "-i", f"{uid}-ms"])
        time.sleep(0.5)
        mosquitto_pub(m.port, "sensors/a", "denied", extra=["-u", "bob"])
        mosquitto_pub(m.port, "sensors/a", "allowed", extra=["-u", "alice"])
        out, _ = sub.communicate(timeout=15)
        assert out.split() == ["sensors/a", "allowed"]
    finally:
        m.stop()


def test_sighup_rereads_the_acl_for_connected_clients(broker_factory, tmp_path, uid):
    b, path = start(broker_factory, tmp_path)
    bob = client(b, f"{uid}-bob", "bob", 5)
    assert bob.publish_acked("sensors/x", b"1", qos=1, pid=1)[0] == 0x87
    path.write_text(ACL.replace("topic write commands/+", "topic write sensors/x"))
    b.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while "ACL file re-read" not in b.log():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert bob.publish_acked("sensors/x", b"2", qos=1, pid=2)[0] < 0x80, "the connected client is held to the new file"
    # A broken file is refused with its line, and the one in force stays.
    path.write_text("user bob\ntopic sometimes sensors/#\n")
    b.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while "keeping the ACL in force" not in b.log():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert f"{path}:2" in b.log()
    assert bob.publish_acked("sensors/x", b"3", qos=1, pid=3)[0] < 0x80


def test_a_broken_acl_stops_the_start(tmp_path):
    path = tmp_path / "acl"
    path.write_text("user bob\ntopic sometimes sensors/#\n")
    config = tmp_path / "wharf.toml"
    config.write_text(f'[auth]\nacl_file = "{path}"\n')
    result = subprocess.run([WHARF, "serve", "--in-memory", "--port", "0", "--no-metrics", "--config", str(config)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert f"{path}:2" in result.stderr, result.stderr
