"""Session takeover (MQTT 3.1.1 section 3.1.4-2): a CONNECT with a client id
that is already connected closes the existing connection; the newer one
wins."""
import threading
import time

import mqtt_raw as raw
from mqttclients import paho


def test_second_connection_with_same_id_closes_the_first(broker, uid):
    b = broker()
    first = raw.RawClient(b.port)
    first.connect(f"{uid}-same")
    second = raw.RawClient(b.port)
    assert second.connect(f"{uid}-same").connack() == (False, 0)
    assert first.wait_closed() == [], "closed without any packet"
    second.ping()


def test_paho_client_is_disconnected_by_a_takeover(broker, uid):
    b = broker()
    old = paho(b.port, f"{uid}-dev")
    new = paho(b.port, f"{uid}-dev")
    assert old.disconnected.wait(5), "the older paho client was not disconnected"
    new.subscribe(f"{uid}/t", 1)
    new.publish(f"{uid}/t", b"new one works", qos=1)
    assert new.get().payload == b"new one works"


def test_takeover_keeps_the_persistent_session(broker, uid):
    b = broker()
    first = raw.RawClient(b.port)
    first.connect(f"{uid}-p", clean=False)
    first.subscribe(1, (f"{uid}/t", 1))
    second = raw.RawClient(b.port)
    assert second.connect(f"{uid}-p", clean=False).connack() == (True, 0)
    assert first.wait_closed() == []
    pub = raw.RawClient(b.port)
    pub.connect(f"{uid}-pub")
    pub.publish_qos1(f"{uid}/t", b"to the new connection", pid=1)
    assert second.expect(raw.PUBLISH).payload == b"to the new connection"


def test_takeover_resends_unacknowledged_deliveries_to_the_new_connection(broker, uid):
    b = broker()
    first = raw.RawClient(b.port)
    first.connect(f"{uid}-p", clean=False)
    first.subscribe(1, (f"{uid}/t", 1))
    pub = raw.RawClient(b.port)
    pub.connect(f"{uid}-pub")
    pub.publish_qos1(f"{uid}/t", b"in flight", pid=1)
    sent = first.expect(raw.PUBLISH)
    second = raw.RawClient(b.port)
    second.connect(f"{uid}-p", clean=False)
    resent = second.expect(raw.PUBLISH)
    assert (resent.payload, resent.dup, resent.pid) == (b"in flight", True, sent.pid)


def test_takeover_with_clean_session_drops_the_old_subscriptions(broker, uid):
    b = broker()
    first = raw.RawClient(b.port)
    first.connect(f"{uid}-c", clean=False)
    first.subscribe(1, (f"{uid}/t", 1))
    second = raw.RawClient(b.port)
    assert second.connect(f"{uid}-c", clean=True).connack() == (False, 0)
    assert first.wait_closed() == []
    pub = raw.RawClient(b.port)
    pub.connect(f"{uid}-pub")
    pub.publish_qos1(f"{uid}/t", b"nobody subscribed", pid=1)
    assert second.read_all(quiet=0.5) == []


def test_chain_of_takeovers_leaves_only_the_newest(broker, uid):
    b = broker()
    clients = []
    for i in range(10):
        c = raw.RawClient(b.port)
        assert c.connect(f"{uid}-chain", clean=False).connack() == (i > 0, 0)
        clients.append(c)
    for c in clients[:-1]:
        assert c.wait_closed() == []
    clients[-1].ping()


def test_simultaneous_connects_with_one_id_leave_exactly_one_alive(broker, uid):
    """20 connections race for one client id. Whatever the order, at the end
    exactly one is still connected, and it owns the session: it receives the
    messages for the session's subscription."""
    b = broker()
    setup = raw.RawClient(b.port)
    setup.connect(f"{uid}-race", clean=False)
    setup.subscribe(1, (f"{uid}/race", 1))
    setup.send(raw.DISCONNECT_BYTES)
    setup.wait_closed()
    clients = [raw.RawClient(b.port) for _ in range(20)]
    codes = [None] * len(clients)
    start = threading.Barrier(len(clients))

    def go(i):
        start.wait(5)
        codes[i] = clients[i].connect(f"{uid}-race", clean=False).connack()

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert all(code is not None and code[1] == 0 for code in codes), codes
    time.sleep(1.0)  # let the broker close the losers
    alive = [c for c in clients if c.is_open_after(0.1)]
    assert len(alive) == 1, f"{len(alive)} connections still open"
    pub = raw.RawClient(b.port)
    pub.connect(f"{uid}-pub")
    pub.publish_qos1(f"{uid}/race", b"winner", pid=1)
    assert alive[0].expect(raw.PUBLISH).payload == b"winner"


def test_client_ids_that_differ_only_in_unicode_normalisation_are_different_clients(broker):
    """Client ids are compared byte for byte: 'é' as NFC and as NFD are two
    clients, so connecting one must not take the other over."""
    b = broker()
    nfc = raw.RawClient(b.port)
    assert nfc.connect("sensor-caf\u00e9").connack() == (False, 0)
    nfd = raw.RawClient(b.port)
    assert nfd.connect("sensor-cafe\u0301").connack() == (False, 0)
    assert nfc.is_open_after(0.5), "the NFC client was taken over by the NFD one"
    nfc.ping()
    nfd.ping()
