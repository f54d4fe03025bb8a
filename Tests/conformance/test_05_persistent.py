"""Persistent sessions, clean session = 0 (MQTT 3.1.1 sections 3.1.2.4,
4.1, 4.4): subscriptions kept, QoS 1/2 queued while offline, unacknowledged
deliveries resent with DUP on reconnect."""
import mqtt_raw as raw
from mqttclients import mosquitto_pub, mosquitto_sub, paho


def test_offline_qos1_and_qos2_queued_and_delivered_with_session_present(broker, uid):
    b = broker()
    sub = paho(b.port, f"{uid}-p", clean=False)
    assert sub.session_present is False
    sub.subscribe(f"{uid}/q", 2)
    sub.disconnect()
    pub = paho(b.port, f"{uid}-pub")
    pub.publish(f"{uid}/q", b"qos0", qos=0)
    pub.publish(f"{uid}/q", b"qos1", qos=1)
    pub.publish(f"{uid}/q", b"qos2", qos=2)
    back = paho(b.port, f"{uid}-p", clean=False)
    assert back.session_present is True
    got = back.get_all(3, timeout=1.5)
    assert [(m.payload, m.qos) for m in got] == [(b"qos1", 1), (b"qos2", 2)], "QoS 0 is not queued"


def test_queued_messages_keep_order_and_are_downgraded_to_the_granted_qos(broker, uid):
    b = broker()
    c = raw.RawClient(b.port)
    c.connect(f"{uid}-p", clean=False)
    c.subscribe(1, (f"{uid}/o", 1))
    c.send(raw.DISCONNECT_BYTES)
    c.wait_closed()
    pub = paho(b.port, f"{uid}-pub")
    for i in range(60):
        pub.publish(f"{uid}/o", str(i).encode(), qos=2 if i % 2 else 1, wait=False)
    pub.publish(f"{uid}/o", b"end", qos=1)
    again = raw.RawClient(b.port)
    assert again.connect(f"{uid}-p", clean=False).connack() == (True, 0)
    got = []
    while len(got) < 61:
        p = again.expect(raw.PUBLISH)
        got.append((p.payload, p.qos, p.dup))
        again.send(raw.ack(raw.PUBACK, p.pid))
    assert got == [(str(i).encode(), 1, False) for i in range(60)] + [(b"end", 1, False)]


def test_overlapping_filters_queue_one_copy_while_offline(broker, uid):
    b = broker()
    c = raw.RawClient(b.port)
    c.connect(f"{uid}-ov", clean=False)
    c.subscribe(1, (f"{uid}/a/#", 1), (f"{uid}/a/+", 2), (f"{uid}/#", 0))
    c.send(raw.DISCONNECT_BYTES)
    c.wait_closed()
    pub = raw.RawClient(b.port)
    pub.connect(f"{uid}-pub")
    pub.publish_qos1(f"{uid}/a/b", b"one copy", pid=1)
    again = raw.RawClient(b.port)
    again.connect(f"{uid}-ov", clean=False)
    got = [(p.payload, p.qos) for p in again.read_all(quiet=0.7) if p.type == raw.PUBLISH]
    assert got == [(b"one copy", 1)], "3.3.5: one copy, at the highest granted QoS (2) capped by the publish (1)"


def test_subscriptions_survive_reconnect_without_resubscribing(broker, uid):
    b = broker()
    sub = paho(b.port, f"{uid}-p", clean=False)
    sub.subscribe(f"{uid}/live", 1)
    sub.disconnect()
    back = paho(b.port, f"{uid}-p", clean=False)
    assert back.session_present is True
    paho(b.port, f"{uid}-pub").publish(f"{uid}/live", b"online again", qos=0)
    assert back.get().payload == b"online again"


def test_unacknowledged_qos1_is_resent_with_dup_and_same_packet_id(broker, uid):
    """4.4-1: on reconnect with clean session 0 the server resends
    unacknowledged PUBLISH packets with DUP = 1 (3.3.1-1), same id."""
    b = broker()
    c = raw.RawClient(b.port)
    c.connect(f"{uid}-r", clean=False)
    c.subscribe(1, (f"{uid}/d", 1))
    paho(b.port, f"{uid}-pub").publish(f"{uid}/d", b"ack me", qos=1)
    first = c.expect(raw.PUBLISH)
    assert (first.dup, first.qos, first.payload) == (False, 1, b"ack me")
    c.close()  # never PUBACKed
    again = raw.RawClient(b.port)
    assert again.connect(f"{uid}-r", clean=False).connack() == (True, 0)
    resent = again.expect(raw.PUBLISH)
    assert (resent.dup, resent.qos, resent.pid, resent.topic, resent.payload) == \
        (True, 1, first.pid, f"{uid}/d", b"ack me")
    again.send(raw.ack(raw.PUBACK, resent.pid))
    assert again.read_all(quiet=0.5) == [], "acknowledged now: not resent again"
    again.send(raw.DISCONNECT_BYTES)
    again.wait_closed()
    third = raw.RawClient(b.port)
    third.connect(f"{uid}-r", clean=False)
    assert third.read_all(quiet=0.5) == []


def test_unacknowledged_qos2_is_resent_with_dup(broker, uid):
    b = broker()
    c = raw.RawClient(b.port)
    c.connect(f"{uid}-r2", clean=False)
    c.subscribe(1, (f"{uid}/d", 2))
    paho(b.port, f"{uid}-pub").publish(f"{uid}/d", b"two", qos=2)
    first = c.expect(raw.PUBLISH)
    c.close()  # no PUBREC
    again = raw.RawClient(b.port)
    again.connect(f"{uid}-r2", clean=False)
    resent = again.expect(raw.PUBLISH)
    assert (resent.dup, resent.qos, resent.pid, resent.payload) == (True, 2, first.pid, b"two")
    again.send(raw.ack(raw.PUBREC, resent.pid))
    assert again.expect(raw.PUBREL).pid == resent.pid
    again.send(raw.ack(raw.PUBCOMP, resent.pid))
    assert again.read_all(quiet=0.4) == []


def test_several_in_flight_resent_in_order_before_queued_ones(broker, uid):
    """Unacknowledged messages are resent first, in their original order, with
    DUP; messages queued while offline follow without DUP."""
    b = broker()
    c = raw.RawClient(b.port)
    c.connect(f"{uid}-m", clean=False)
    c.subscribe(1, (f"{uid}/m", 1))
    pub = paho(b.port, f"{uid}-pub")
    for i in range(5):
        pub.publish(f"{uid}/m", f"inflight {i}".encode(), qos=1)
    firsts = [c.expect(raw.PUBLISH) for _ in range(5)]
    c.close()
    for i in range(3):
        pub.publish(f"{uid}/m", f"queued {i}".encode(), qos=1)
    again = raw.RawClient(b.port)
    again.connect(f"{uid}-m", clean=False)
    got = [again.expect(raw.PUBLISH) for _ in range(8)]
    assert [(p.payload, p.dup) for p in got] == \
        [(f"inflight {i}".encode(), True) for i in range(5)] + [(f"queued {i}".encode(), False) for i in range(3)]
    assert [p.pid for p in got[:5]] == [p.pid for p in firsts]
    assert len({p.pid for p in got}) == 8, "ids of messages in flight are distinct"


def test_qos2_pubrel_is_resent_after_reconnect(broker, uid):
    """4.4-1: after PUBREC, the server resends the PUBREL (not the PUBLISH)."""
    b = broker()
    c = raw.RawClient(b.port)
    c.connect(f"{uid}-q2", clean=False)
    c.subscribe(1, (f"{uid}/e", 2))
    paho(b.port, f"{uid}-pub").publish(f"{uid}/e", b"two", qos=2)
    pid = c.expect(raw.PUBLISH).pid
    c.send(raw.ack(raw.PUBREC, pid))
    assert c.expect(raw.PUBREL).pid == pid
    c.close()  # never PUBCOMPed
    again = raw.RawClient(b.port)
    assert again.connect(f"{uid}-q2", clean=False).connack() == (True, 0)
    p = again.expect(raw.PUBREL)
    assert (p.flags, p.pid) == (2, pid)
    again.send(raw.ack(raw.PUBCOMP, pid))
    assert again.read_all(quiet=0.4) == []


def test_inbound_qos2_is_exactly_once_across_a_reconnect(broker, uid):
    """4.3.3: the publisher got PUBREC, lost the connection, and resends the
    PUBLISH (DUP) on the resumed session; the message must not be routed
    twice."""
    b = broker()
    sub = paho(b.port, f"{uid}-sub")
    sub.subscribe(f"{uid}/eo", 2)
    c = raw.RawClient(b.port)
    c.connect(f"{uid}-pub", clean=False)
    c.send(raw.publish(f"{uid}/eo", b"once", qos=2, pid=7))
    c.expect(raw.PUBREC)
    c.close()
    again = raw.RawClient(b.port)
    assert again.connect(f"{uid}-pub", clean=False).connack() == (True, 0)
    again.send(raw.publish(f"{uid}/eo", b"once", qos=2, pid=7, dup=True))
    again.expect(raw.PUBREC)
    again.send(raw.ack(raw.PUBREL, 7))
    again.expect(raw.PUBCOMP)
    assert sub.get().payload == b"once"
    sub.assert_nothing_for(0.5)


def test_clean_session_1_discards_the_stored_session(broker, uid):
    b = broker()
    sub = paho(b.port, f"{uid}-c", clean=False)
    sub.subscribe(f"{uid}/x", 1)
    sub.disconnect()
    paho(b.port, f"{uid}-pub").publish(f"{uid}/x", b"lost", qos=1)
    clean = paho(b.port, f"{uid}-c", clean=True)
    assert clean.session_present is False
    clean.assert_nothing_for(0.5)
    paho(b.port, f"{uid}-pub2").publish(f"{uid}/x", b"no subscription any more", qos=1)
    clean.assert_nothing_for(0.3)
    clean.disconnect()
    persistent = paho(b.port, f"{uid}-c", clean=False)
    assert persistent.session_present is False, "the clean session left nothing behind"
    persistent.assert_nothing_for(0.3)


def test_clean_session_ends_with_the_connection(broker, uid):
    """3.1.2-6: a clean session's state is discarded when it disconnects: no
    messages are kept for it."""
    b = broker()
    c = paho(b.port, f"{uid}-c", clean=True)
    c.subscribe(f"{uid}/x", 1)
    c.disconnect()
    paho(b.port, f"{uid}-pub").publish(f"{uid}/x", b"nobody", qos=1)
    back = paho(b.port, f"{uid}-c", clean=False)
    assert back.session_present is False
    back.assert_nothing_for(0.5)


def test_mosquitto_sub_persistent_session(broker, uid):
    """What a user does: `mosquitto_sub -c -i ID`, stop it, publish, start it
    again: the message published meanwhile arrives."""
    b = broker()
    cid = f"{uid}-msub"
    first = mosquitto_sub(b.port, f"{uid}/p", 1, qos=1, extra=["-c", "-i", cid])
    assert mosquitto_pub(b.port, f"{uid}/p", "while online", qos=1).returncode == 0
    assert first.messages() == [(f"{uid}/p", 1, 0, "while online")]
    assert mosquitto_pub(b.port, f"{uid}/p", "while offline", qos=1).returncode == 0
    second = mosquitto_sub(b.port, f"{uid}/p", 1, qos=1, extra=["-c", "-i", cid], wait=False)
    assert second.messages() == [(f"{uid}/p", 1, 0, "while offline")]
