"""Persistent sessions (clean session = 0, 3.1.1 section 3.1.2.4 and 4.4)."""
import rawmqtt as raw
from mqttclients import paho


def test_offline_qos1_and_qos2_delivered_on_reconnect_not_qos0(broker, uid):
    sub = paho(broker.port, f"{uid}-p", clean=False)
    assert sub.session_present is False
    sub.subscribe(f"{uid}/q", 2)
    sub.disconnect()
    pub = paho(broker.port, f"{uid}-pub")
    pub.publish(f"{uid}/q", b"qos0", qos=0)
    pub.publish(f"{uid}/q", b"qos1", qos=1)
    pub.publish(f"{uid}/q", b"qos2", qos=2)
    back = paho(broker.port, f"{uid}-p", clean=False)
    assert back.session_present is True
    got = back.get_all(2)
    assert [(m.payload, m.qos) for m in got] == [(b"qos1", 1), (b"qos2", 2)]
    back.nothing_for(0.5)


def test_unacknowledged_message_resent_with_dup(broker, uid):
    c = raw.RawClient(broker.port)
    c.connect(f"{uid}-r", clean=False)
    c.send(raw.subscribe(1, (f"{uid}/d", 1)))
    assert c.read().type == raw.SUBACK
    paho(broker.port, f"{uid}-pub").publish(f"{uid}/d", b"ack me", qos=1)
    first = c.read()
    topic, pid, _, payload = first.publish_fields()
    assert (first.dup, payload) == (False, b"ack me")
    c.close()  # never PUBACKed
    again = raw.RawClient(broker.port)
    assert again.connect(f"{uid}-r", clean=False)[:2] == (True, 0)
    resent = again.read()
    topic2, pid2, _, payload2 = resent.publish_fields()
    assert resent.type == raw.PUBLISH and resent.dup and payload2 == b"ack me" and pid2 == pid
    again.send(raw.ack(raw.PUBACK, pid2))
    again.send(raw.DISCONNECT_BYTES)


def test_qos2_pubrel_resent_after_reconnect(broker, uid):
    c = raw.RawClient(broker.port)
    c.connect(f"{uid}-q2", clean=False)
    c.send(raw.subscribe(1, (f"{uid}/e", 2)))
    c.read()
    paho(broker.port, f"{uid}-pub").publish(f"{uid}/e", b"two", qos=2)
    _, pid, _, _ = c.read().publish_fields()
    c.send(raw.ack(raw.PUBREC, pid))
    rel = c.read()
    assert rel.type == raw.PUBREL
    c.close()  # never PUBCOMPed
    again = raw.RawClient(broker.port)
    assert again.connect(f"{uid}-q2", clean=False)[0] is True
    p = again.read()
    assert p.type == raw.PUBREL and p.body == pid.to_bytes(2, "big"), "PUBREL is resent, not the PUBLISH"
    again.send(raw.ack(raw.PUBCOMP, pid))


def test_clean_session_discards_stored_state(broker, uid):
    sub = paho(broker.port, f"{uid}-c", clean=False)
    sub.subscribe(f"{uid}/x", 1)
    sub.disconnect()
    paho(broker.port, f"{uid}-pub").publish(f"{uid}/x", b"lost", qos=1)
    clean = paho(broker.port, f"{uid}-c", clean=True)
    assert clean.session_present is False
    clean.nothing_for(0.5)
    clean.disconnect()
    persistent = paho(broker.port, f"{uid}-c", clean=False)
    assert persistent.session_present is False, "the clean session did not leave anything behind"
