"""CONNECT / CONNACK (MQTT 3.1.1 sections 3.1 and 3.2): every reachable
return code, the session-present flag, server-assigned client ids, and
MQTT 3.1 ("MQIsdp", level 3) clients."""
import subprocess

import paho.mqtt.client as mqtt
import pytest

import mqtt_raw as raw
from mqttclients import mosquitto_pub, mosquitto_sub, paho


def test_accepted_connack_is_exactly_20_02_00_00(broker, uid):
    b = broker()
    c = raw.RawClient(b.port)
    c.send(raw.connect(f"{uid}-a"))
    p = c.read()
    assert (p.type, p.flags, bytes(p.body)) == (raw.CONNACK, 0, b"\x00\x00")
    c.ping()


def test_empty_client_id_with_clean_session_gets_an_assigned_id(broker, uid):
    """3.1.3-6: the server assigns a unique id. Two such clients must not be
    treated as the same client (neither is taken over), and both work."""
    b = broker()
    first, second = raw.RawClient(b.port), raw.RawClient(b.port)
    assert first.connect("", clean=True).connack() == (False, 0)
    assert second.connect("", clean=True).connack() == (False, 0)
    assert first.subscribe(1, (f"{uid}/to-first", 1)) == [1]
    second.publish_qos1(f"{uid}/to-first", b"hi", pid=1)
    got = first.expect(raw.PUBLISH)
    assert (got.topic, got.payload) == (f"{uid}/to-first", b"hi")
    first.ping()
    second.ping()


def test_paho_with_empty_client_id_connects(broker, uid):
    b = broker()
    c = paho(b.port, "")
    assert (c.session_present, c.rc) == (False, 0)
    c.subscribe(f"{uid}/t", 1)
    c.publish(f"{uid}/t", b"x", qos=1)
    assert c.get().payload == b"x"


def test_empty_client_id_without_clean_session_gets_code_2_and_close(broker):
    b = broker()
    c = raw.RawClient(b.port)
    assert c.connect("", clean=False).connack() == (False, 2), "3.1.3-8: identifier rejected"
    assert c.wait_closed() == []


# Level 5 is MQTT 5.0, served since Wharf speaks it; a level above 5 is
# answered in the 5.0 form (0x84), which Tests/e2e/test_23 checks.
@pytest.mark.parametrize("level", [2, 1, 0])
def test_unsupported_protocol_level_gets_code_1_and_close(broker, uid, level):
    """3.1.2-2: an unsupported protocol level is answered with CONNACK 0x01,
    then the connection is closed."""
    b = broker()
    c = raw.RawClient(b.port)
    assert c.connect(f"{uid}-v{level}", level=level).connack() == (False, 1)
    assert c.wait_closed() == []


def test_max_connections_gets_code_3_and_close(broker, uid):
    b = broker("[limits]\nmax_connections = 2\n")
    first, second = raw.RawClient(b.port), raw.RawClient(b.port)
    assert first.connect(f"{uid}-1").connack() == (False, 0)
    assert second.connect(f"{uid}-2").connack() == (False, 0)
    third = raw.RawClient(b.port)
    assert third.connect(f"{uid}-3").connack() == (False, 3), "3.2.2.3: server unavailable"
    assert third.wait_closed() == []
    first.ping()
    second.ping()


def _password_file(tmp_path):
    path = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(path), "alice", "s3cret"], check=True, timeout=10)
    return path


def test_bad_password_gets_code_4_and_anonymous_code_5(broker, tmp_path, uid):
    b = broker(f'[auth]\nallow_anonymous = false\npassword_file = "{_password_file(tmp_path)}"\n')
    wrong = raw.RawClient(b.port)
    assert wrong.connect(f"{uid}-w", username="alice", password="nope").connack() == (False, 4)
    assert wrong.wait_closed() == []
    unknown = raw.RawClient(b.port)
    assert unknown.connect(f"{uid}-u", username="mallory", password="s3cret").connack() == (False, 4)
    anonymous = raw.RawClient(b.port)
    assert anonymous.connect(f"{uid}-anon").connack() == (False, 5)
    assert anonymous.wait_closed() == []
    right = raw.RawClient(b.port)
    assert right.connect(f"{uid}-r", username="alice", password="s3cret").connack() == (False, 0)


def test_mosquitto_clients_authenticate_with_a_mosquitto_passwd_file(broker, tmp_path, uid):
    b = broker(f'[auth]\nallow_anonymous = false\npassword_file = "{_password_file(tmp_path)}"\n')
    ok = mosquitto_pub(b.port, f"{uid}/t", "x", extra=["-u", "alice", "-P", "s3cret"])
    assert ok.returncode == 0, ok.stderr
    bad = mosquitto_pub(b.port, f"{uid}/t", "x", extra=["-u", "alice", "-P", "wrong"])
    assert bad.returncode != 0
    assert "password" in bad.stderr.lower() or "authori" in bad.stderr.lower(), bad.stderr


def test_session_present_flag(broker, uid):
    """3.2.2.2: 0 for a new or clean session, 1 when a stored session resumes,
    and never 1 when the client asks for a clean session."""
    b = broker()
    cid = f"{uid}-sp"
    c = raw.RawClient(b.port)
    assert c.connect(cid, clean=False).connack() == (False, 0), "no session stored yet"
    c.subscribe(1, (f"{uid}/x", 1))
    c.send(raw.DISCONNECT_BYTES)
    c.wait_closed()
    c = raw.RawClient(b.port)
    assert c.connect(cid, clean=False).connack() == (True, 0), "the stored session resumes"
    c.send(raw.DISCONNECT_BYTES)
    c.wait_closed()
    c = raw.RawClient(b.port)
    assert c.connect(cid, clean=True).connack() == (False, 0), "3.2.2-1: clean session => 0"
    c.send(raw.DISCONNECT_BYTES)
    c.wait_closed()
    c = raw.RawClient(b.port)
    assert c.connect(cid, clean=False).connack() == (False, 0), "the clean session discarded the old one"


def test_mqtt_3_1_mqisdp_raw_connect_and_round_trip(broker, uid):
    b = broker()
    c = raw.RawClient(b.port)
    assert c.connect(f"{uid}-31", name="MQIsdp", level=3).connack() == (False, 0)
    assert c.subscribe(1, (f"{uid}/31", 1)) == [1]
    c.publish_qos1(f"{uid}/31", b"old protocol", pid=2)
    p = c.expect(raw.PUBLISH)
    assert (p.topic, p.payload, p.qos) == (f"{uid}/31", b"old protocol", 1)


def test_mqtt_3_1_client_id_longer_than_23_bytes_gets_code_2(broker):
    """MQTT 3.1 section 3.1: client ids are 1 to 23 characters; longer ones
    are answered with return code 2."""
    b = broker()
    c = raw.RawClient(b.port)
    assert c.connect("x" * 24, name="MQIsdp", level=3).connack() == (False, 2)
    ok = raw.RawClient(b.port)
    assert ok.connect("y" * 23, name="MQIsdp", level=3).connack() == (False, 0)


def test_mqtt_3_1_empty_client_id_gets_code_2(broker):
    """MQTT 3.1 has no server-assigned ids: an empty one is rejected."""
    b = broker()
    c = raw.RawClient(b.port)
    assert c.connect("", name="MQIsdp", level=3).connack() == (False, 2)
    assert c.wait_closed() == []


def test_mqtt_3_1_mosquitto_clients(broker, uid):
    b = broker()
    sub = mosquitto_sub(b.port, f"{uid}/v31", 1, qos=1, extra=["-V", "mqttv31"])
    pub = mosquitto_pub(b.port, f"{uid}/v31", "old", qos=1, extra=["-V", "mqttv31"])
    assert pub.returncode == 0, pub.stderr
    assert sub.messages() == [(f"{uid}/v31", 1, 0, "old")]
    assert sub.returncode == 0


def test_mqtt_3_1_paho_client(broker, uid):
    b = broker()
    c = paho(b.port, f"{uid}-p31", protocol=mqtt.MQTTv31)
    c.subscribe(f"{uid}/p31", 2)
    c.publish(f"{uid}/p31", b"v31", qos=2)
    m = c.get()
    assert (m.topic, m.payload, m.qos) == (f"{uid}/p31", b"v31", 2)


def test_client_id_of_65535_bytes_is_accepted(broker):
    """3.1.3-5: the server MAY allow longer ids than 23 bytes; Wharf does,
    up to what the 16-bit length allows."""
    b = broker()
    c = raw.RawClient(b.port)
    assert c.connect("z" * 65535).connack() == (False, 0)
    c.ping()
