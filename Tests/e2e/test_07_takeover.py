"""Session takeover (3.1.1 section 3.1.4): the newer connection wins."""
import rawmqtt as raw


def test_second_connection_with_same_id_closes_first(broker, uid):
    first = raw.RawClient(broker.port)
    first.connect(f"{uid}-same")
    second = raw.RawClient(broker.port)
    assert second.connect(f"{uid}-same")[:2] == (False, 0)
    assert first.closed_by_broker(timeout=5)
    second.send(raw.PINGREQ_BYTES)
    assert second.read().type == raw.PINGRESP


def test_takeover_keeps_persistent_session(broker, uid):
    first = raw.RawClient(broker.port)
    first.connect(f"{uid}-p", clean=False)
    first.send(raw.subscribe(1, (f"{uid}/t", 1)))
    first.read()
    second = raw.RawClient(broker.port)
    assert second.connect(f"{uid}-p", clean=False)[:2] == (True, 0)
    assert first.closed_by_broker()
    pub = raw.RawClient(broker.port)
    pub.connect(f"{uid}-pub")
    pub.send(raw.publish(f"{uid}/t", b"to-new", qos=1, pid=1))
    assert pub.read().type == raw.PUBACK
    p = second.read()
    assert p.publish_fields()[3] == b"to-new"
