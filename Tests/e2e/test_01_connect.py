"""CONNECT/CONNACK (3.1.1 section 3.1, 3.2): every return code, session present, client ids."""
import subprocess

import rawmqtt as raw
from mqttclients import mosquitto_pub, mosquitto_sub


def test_accepted_with_session_present_zero(broker, uid):
    c = raw.RawClient(broker.port)
    assert c.connect(f"{uid}-a")[:2] == (False, 0)


def test_empty_client_id_with_clean_session_is_assigned(broker):
    c = raw.RawClient(broker.port)
    assert c.connect("", clean=True)[:2] == (False, 0)
    c.send(raw.PINGREQ_BYTES)
    assert c.read().type == raw.PINGRESP


def test_empty_client_id_without_clean_session_is_rejected_code_2(broker):
    c = raw.RawClient(broker.port)
    assert c.connect("", clean=False)[:2] == (False, 2)
    assert c.closed_by_broker()


def test_unsupported_protocol_level_gets_code_1(broker, uid):
    c = raw.RawClient(broker.port)
    assert c.connect(f"{uid}-v2", level=2)[:2] == (False, 1)
    assert c.closed_by_broker()


def test_mqtt_3_1_client_works(broker, uid):
    sub = mosquitto_sub(broker.port, f"{uid}/v31", 1, extra=["-V", "mqttv31"])
    import time
    time.sleep(0.5)
    assert mosquitto_pub(broker.port, f"{uid}/v31", "old", extra=["-V", "mqttv31"]).returncode == 0
    out, err = sub.communicate(timeout=15)
    assert out.strip() == f"{uid}/v31 old", err


def test_max_connections_gets_code_3(broker_factory, uid):
    b = broker_factory("[limits]\nmax_connections = 2\n")
    first, second = raw.RawClient(b.port), raw.RawClient(b.port)
    assert first.connect(f"{uid}-1")[:2] == (False, 0)
    assert second.connect(f"{uid}-2")[:2] == (False, 0)
    third = raw.RawClient(b.port)
    assert third.connect(f"{uid}-3")[:2] == (False, 3)
    assert third.closed_by_broker()
    first.send(raw.DISCONNECT_BYTES)
    assert first.closed_by_broker()
    fourth = raw.RawClient(b.port)
    assert fourth.connect(f"{uid}-4")[:2] == (False, 0), "a freed slot is reusable"


def _password_file(tmp_path):
    path = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(path), "alice", "s3cret"], check=True, timeout=10)
    return path


def test_bad_password_gets_code_4_and_anonymous_code_5(broker_factory, tmp_path, uid):
    pw = _password_file(tmp_path)
    b = broker_factory(f'[auth]\nallow_anonymous = false\npassword_file = "{pw}"\n')
    wrong = raw.RawClient(b.port)
    assert wrong.connect(f"{uid}-w", username="alice", password="nope")[:2] == (False, 4)
    anonymous = raw.RawClient(b.port)
    assert anonymous.connect(f"{uid}-anon")[:2] == (False, 5)
    right = raw.RawClient(b.port)
    assert right.connect(f"{uid}-r", username="alice", password="s3cret")[:2] == (False, 0)


def test_mosquitto_clients_authenticate_with_mosquitto_passwd_file(broker_factory, tmp_path, uid):
    pw = _password_file(tmp_path)
    b = broker_factory(f'[auth]\nallow_anonymous = false\npassword_file = "{pw}"\n')
    ok = mosquitto_pub(b.port, f"{uid}/t", "x", extra=["-u", "alice", "-P", "s3cret"])
    assert ok.returncode == 0, ok.stderr
    bad = mosquitto_pub(b.port, f"{uid}/t", "x", extra=["-u", "alice", "-P", "wrong"])
    assert bad.returncode != 0
    assert "password" in bad.stderr.lower() or "authori" in bad.stderr.lower(), bad.stderr
