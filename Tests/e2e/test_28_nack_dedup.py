"""Wharf's delivery extensions for MQTT 5.0 clients: negative acknowledgement
(a PUBACK or PUBREC with a reason code >= 0x80 asks for redelivery after a
backoff, to another group member when there is one, dead-lettered after the
policy's max_delivery_attempts), and publisher de-duplication by the user
property wharf-msg-id. All Wharf-only: mosquitto has neither."""
import socket
import time

import pytest
from paho.mqtt.packettypes import PacketTypes

import rawmqtt as r
from mqtt5clients import (broker5_factory, mosquitto_pub5, mosquitto_sub5, paho5, props,  # noqa: F401 (fixtures)
                          snapshot, wharf_only)

pytestmark = wharf_only

BACKOFF = "[delivery]\nretry_backoff_min = 0.05\nretry_backoff_max = 0.2\n"
DEDUP = "[delivery]\ndedup_window = 60\n"


def _consumer(broker, client_id, topic_filter, qos=1):
    c = r.RawClient(broker.port, version=5)
    assert c.connect(client_id)[1] == 0
    assert c.subscribe(1, (topic_filter, qos)) == [qos]
    return c


def _next_publish(c, timeout=3.0):
    """(packet id, payload, Packet) of the next PUBLISH, or None if none came in time."""
    try:
        p = c.read_type(r.PUBLISH, timeout=timeout)
    except (socket.timeout, TimeoutError):
        return None
    _, pid, _, payload = p.publish_fields()
    return pid, payload, p


# --- Negative acknowledgement -------------------------------------------------------------------

def test_puback_nack_redelivers_the_message_after_a_backoff(broker5_factory, uid):
    b = broker5_factory(BACKOFF)
    c = _consumer(b, f"{uid}-c", f"{uid}/n")
    pub = paho5(b.port, f"{uid}-p")
    pub.publish(f"{uid}/n", b"try me", qos=1)
    pid, payload, _ = _next_publish(c)
    assert payload == b"try me"
    c.send(r.ack(r.PUBACK, pid, r.UNSPECIFIED_ERROR))
    nacked_at = time.monotonic()
    again = _next_publish(c)
    assert again is not None, "a nacked message is delivered again"
    assert again[1] == b"try me"
    assert time.monotonic() - nacked_at <= 2.0, "within the 0.2 s maximum backoff (plus slack)"
    c.send(r.ack(r.PUBACK, again[0]))
    assert _next_publish(c, timeout=1.0) is None, "acknowledged: not delivered again"
    snap = snapshot(b)
    assert snap["messages"]["nackedTotal"] == 1
    assert snap["messages"]["deadLetteredTotal"] == 0
    c.close()
    pub.disconnect()


@pytest.mark.parametrize("reason", [0x80, 0x83, 0x87, 0x97, 0x99])
def test_every_failure_reason_code_is_a_nack(broker5_factory, uid, reason):
    b = broker5_factory(BACKOFF)
    c = _consumer(b, f"{uid}-c", f"{uid}/n")
    paho5(b.port, f"{uid}-p").publish(f"{uid}/n", b"x", qos=1)
    pid, _, _ = _next_publish(c)
    c.send(r.ack(r.PUBACK, pid, reason))
    again = _next_publish(c)
    assert again is not None and again[1] == b"x"
    c.send(r.ack(r.PUBACK, again[0]))
    c.close()


def test_success_reason_codes_below_0x80_are_not_nacks(broker5_factory, uid):
    b = broker5_factory(BACKOFF)
    c = _consumer(b, f"{uid}-c", f"{uid}/n")
    paho5(b.port, f"{uid}-p").publish(f"{uid}/n", b"x", qos=1)
    pid, _, _ = _next_publish(c)
    c.send(r.ack(r.PUBACK, pid, r.NO_MATCHING_SUBSCRIBERS))  # 0x10: a success code
    assert _next_publish(c, timeout=1.0) is None
    assert snapshot(b)["messages"]["nackedTotal"] == 0
    c.close()


def test_pubrec_nack_ends_the_qos2_flow_and_redelivers(broker5_factory, uid):
    b = broker5_factory(BACKOFF)
    c = _consumer(b, f"{uid}-c", f"{uid}/n2", qos=2)
    paho5(b.port, f"{uid}-p").publish(f"{uid}/n2", b"exactly once, eventually", qos=2)
    pid, _, _ = _next_publish(c)
    c.send(r.ack(r.PUBREC, pid, r.UNSPECIFIED_ERROR))
    between = []
    deadline = time.monotonic() + 3
    try:
        while (p := c.read(timeout=max(0.01, deadline - time.monotonic()))).type != r.PUBLISH:
            between.append(p)
    except (socket.timeout, TimeoutError):
        raise AssertionError(f"not redelivered within 3 s (got {between})")
    assert not [x for x in between if x.type == r.PUBREL], "no PUBREL after a failed PUBREC (4.3.3)"
    _, pid2, _, payload = p.publish_fields()
    assert payload == b"exactly once, eventually"
    c.send(r.ack(r.PUBREC, pid2))
    assert c.read_type(r.PUBREL).ack_fields()[0] == pid2
    c.send(r.ack(r.PUBCOMP, pid2))
    assert _next_publish(c, timeout=1.0) is None
    assert snapshot(b)["messages"]["nackedTotal"] == 1
    c.close()


def test_nack_backoff_stays_between_min_and_max(broker5_factory, uid):
    b = broker5_factory("[delivery]\nretry_backoff_min = 0.3\nretry_backoff_max = 0.6\n")
    c = _consumer(b, f"{uid}-c", f"{uid}/slow")
    paho5(b.port, f"{uid}-p").publish(f"{uid}/slow", b"x", qos=1)
    pid, _, _ = _next_publish(c)
    gaps = []
    for _ in range(4):
        c.send(r.ack(r.PUBACK, pid, r.UNSPECIFIED_ERROR))
        nacked_at = time.monotonic()
        got = _next_publish(c, timeout=3)
        assert got is not None
        gaps.append(time.monotonic() - nacked_at)
        pid = got[0]
    c.send(r.ack(r.PUBACK, pid))
    assert all(0.25 <= g <= 1.2 for g in gaps), f"gaps {[round(g, 2) for g in gaps]}, backoff 0.3..0.6 s"
    assert snapshot(b)["messages"]["nackedTotal"] == 4
    c.close()


def test_nack_backoff_grows_exponentially_up_to_the_max(broker5_factory, uid):
    b = broker5_factory("[delivery]\nretry_backoff_min = 0.1\nretry_backoff_max = 0.8\n")
    c = _consumer(b, f"{uid}-c", f"{uid}/grow")
    paho5(b.port, f"{uid}-p").publish(f"{uid}/grow", b"x", qos=1)
    pid, _, _ = _next_publish(c)
    gaps = []
    for _ in range(5):
        c.send(r.ack(r.PUBACK, pid, r.UNSPECIFIED_ERROR))
        nacked_at = time.monotonic()
        got = _next_publish(c, timeout=3)
        assert got is not None
        gaps.append(time.monotonic() - nacked_at)
        pid = got[0]
    c.send(r.ack(r.PUBACK, pid))
    shown = [round(g, 2) for g in gaps]
    assert gaps[0] <= 0.3, f"first retry near the 0.1 s minimum: {shown}"
    assert gaps[-1] >= 0.4, f"the fifth retry waits 0.1 s x 2^4, capped at 0.8 s: {shown}"
    assert max(gaps) <= 1.4, f"never much past the 0.8 s maximum: {shown}"
    c.close()


def test_nack_in_a_group_goes_to_another_member(broker5_factory, uid):
    b = broker5_factory(BACKOFF)
    members = [_consumer(b, f"{uid}-m{i}", f"$share/g/{uid}/jobs") for i in range(2)]
    pub = paho5(b.port, f"{uid}-p")
    pub.publish(f"{uid}/jobs", b"job", qos=1)
    got = [_next_publish(m, timeout=1.5) for m in members]
    holders = [i for i, g in enumerate(got) if g is not None]
    assert len(holders) == 1, "one member gets it"
    holder, other = members[holders[0]], members[1 - holders[0]]
    holder.send(r.ack(r.PUBACK, got[holders[0]][0], r.UNSPECIFIED_ERROR))
    redelivered = _next_publish(other)
    assert redelivered is not None and redelivered[1] == b"job", "the other member gets the nacked message"
    other.send(r.ack(r.PUBACK, redelivered[0]))
    assert _next_publish(holder, timeout=1.0) is None
    for m in members:
        m.close()
    pub.disconnect()


def test_third_nack_dead_letters_with_the_reason_in_user_properties(broker5_factory, uid):
    b = broker5_factory(BACKOFF + '\n[[policy]]\npattern = "work/#"\nmax_delivery_attempts = 3\n')
    dlq = paho5(b.port, f"{uid}-dlq")
    dlq.subscribe("$DLQ/#", 1)
    c = _consumer(b, f"{uid}-c", f"work/{uid}/#")
    pub = paho5(b.port, f"{uid}-p")
    pub.publish(f"work/{uid}/job", b"poison", qos=1)
    deliveries = 0
    while (got := _next_publish(c, timeout=2.0)) is not None:
        deliveries += 1
        c.send(r.ack(r.PUBACK, got[0], r.IMPLEMENTATION_SPECIFIC))
        assert deliveries <= 3, "never past max_delivery_attempts"
    assert deliveries == 3
    dead = dlq.get(timeout=5)
    assert (dead.topic, dead.payload) == (f"$DLQ/work/{uid}/job", b"poison")
    user = dict(dead.properties.UserProperty)
    assert user["wharf-dead-letter-reason"] == "max_delivery_attempts"
    assert user["wharf-delivery-attempts"] == "3"
    assert user["wharf-original-topic"] == f"work/{uid}/job"
    snap = snapshot(b)
    assert snap["messages"]["deadLetteredTotal"] == 1
    assert snap["messages"]["nackedTotal"] == 3
    c.close()
    dlq.disconnect()
    pub.disconnect()


def test_nacks_and_a_final_ack_do_not_dead_letter(broker5_factory, uid):
    b = broker5_factory(BACKOFF + '\n[[policy]]\npattern = "work/#"\nmax_delivery_attempts = 3\n')
    dlq = paho5(b.port, f"{uid}-dlq")
    dlq.subscribe("$DLQ/#", 1)
    c = _consumer(b, f"{uid}-c", f"work/{uid}")
    paho5(b.port, f"{uid}-p").publish(f"work/{uid}", b"flaky", qos=1)
    for attempt in range(3):
        got = _next_publish(c)
        assert got is not None, f"delivery {attempt + 1} missing"
        pid, payload, _ = got
        assert payload == b"flaky"
        c.send(r.ack(r.PUBACK, pid, r.UNSPECIFIED_ERROR if attempt < 2 else r.SUCCESS))
    assert _next_publish(c, timeout=1.0) is None
    dlq.nothing_for(0.5)
    assert snapshot(b)["messages"]["deadLetteredTotal"] == 0
    c.close()
    dlq.disconnect()


# --- Publisher de-duplication (wharf-msg-id) ----------------------------------------------------

def _msg_id(value):
    return [(r.USER_PROPERTY, ("wharf-msg-id", value))]


@pytest.mark.parametrize("qos", [1, 2])
def test_same_msg_id_is_routed_once_and_every_copy_acknowledged(broker5_factory, uid, qos):
    b = broker5_factory(DEDUP)
    sub = paho5(b.port, f"{uid}-s")
    sub.subscribe(f"{uid}/orders", 2)
    pub = r.RawClient(b.port, version=5)
    pub.connect(f"{uid}-p")
    codes = [pub.publish_acked(f"{uid}/orders", b"order 17", qos, pid, props=_msg_id("order-17"))[0]
             for pid in (1, 2, 3)]
    assert codes == [0, 0, 0], "repeats are acknowledged as success"
    assert [m.payload for m in sub.get_all(3, timeout=1.5)] == [b"order 17"]
    assert snapshot(b)["messages"]["deduplicatedTotal"] == 2
    sub.disconnect()
    pub.close()


def test_same_msg_id_on_another_topic_is_another_message(broker5_factory, uid):
    b = broker5_factory(DEDUP)
    sub = paho5(b.port, f"{uid}-s")
    sub.subscribe(f"{uid}/#", 1)
    pub = paho5(b.port, f"{uid}-p")
    same = props(PacketTypes.PUBLISH, UserProperty=[("wharf-msg-id", "42")])
    assert pub.publish(f"{uid}/a", b"a", qos=1, properties=same) == 0
    assert pub.publish(f"{uid}/b", b"b", qos=1, properties=same) == 0
    assert pub.publish(f"{uid}/a", b"a again", qos=1, properties=same) == 0
    assert sorted(m.payload for m in sub.get_all(3, timeout=1.5)) == [b"a", b"b"]
    assert snapshot(b)["messages"]["deduplicatedTotal"] == 1
    sub.disconnect()
    pub.disconnect()


def test_different_ids_and_messages_without_an_id_are_never_deduplicated(broker5_factory, uid):
    b = broker5_factory(DEDUP)
    sub = paho5(b.port, f"{uid}-s")
    sub.subscribe(f"{uid}/t", 1)
    pub = r.RawClient(b.port, version=5)
    pub.connect(f"{uid}-p")
    for pid in (1, 2, 3):
        pub.publish_acked(f"{uid}/t", b"same payload", 1, pid)
    pub.publish_acked(f"{uid}/t", b"same payload", 1, 4, props=_msg_id("x"))
    pub.publish_acked(f"{uid}/t", b"same payload", 1, 5, props=_msg_id("y"))
    assert len(sub.get_all(6, timeout=1.5)) == 5
    assert snapshot(b)["messages"]["deduplicatedTotal"] == 0
    sub.disconnect()
    pub.close()


def test_a_second_publisher_repeating_the_id_is_deduplicated_too(broker5_factory, uid):
    """The window is kept per topic, not per connection: a publisher that
    reconnects (new connection, or a standby taking over) and resends is caught."""
    b = broker5_factory(DEDUP)
    sub = paho5(b.port, f"{uid}-s")
    sub.subscribe(f"{uid}/t", 1)
    first = r.RawClient(b.port, version=5)
    first.connect(f"{uid}-p1")
    first.publish_acked(f"{uid}/t", b"once", 1, 1, props=_msg_id("evt-1"))
    first.close()
    second = r.RawClient(b.port, version=5)
    second.connect(f"{uid}-p2")
    assert second.publish_acked(f"{uid}/t", b"once", 1, 1, props=_msg_id("evt-1"))[0] == 0
    assert [m.payload for m in sub.get_all(2, timeout=1.5)] == [b"once"]
    sub.disconnect()
    second.close()


def test_the_same_id_is_routed_again_after_the_window(broker5_factory, uid):
    b = broker5_factory("[delivery]\ndedup_window = 1\n")
    sub = paho5(b.port, f"{uid}-s")
    sub.subscribe(f"{uid}/t", 1)
    pub = r.RawClient(b.port, version=5)
    pub.connect(f"{uid}-p")
    pub.publish_acked(f"{uid}/t", b"first", 1, 1, props=_msg_id("w"))
    pub.publish_acked(f"{uid}/t", b"within", 1, 2, props=_msg_id("w"))
    time.sleep(1.6)
    pub.publish_acked(f"{uid}/t", b"after", 1, 3, props=_msg_id("w"))
    assert [m.payload for m in sub.get_all(3, timeout=1.5)] == [b"first", b"after"]
    sub.disconnect()
    pub.close()


def test_mosquitto_pub_retries_with_a_msg_id_deliver_once(broker5_factory, uid):
    b = broker5_factory(DEDUP)
    topic = f"{uid}/cli"
    sub = mosquitto_sub5(b.port, topic, 2, qos=1, timeout=4, fmt="%p")
    time.sleep(0.5)
    for _ in range(3):
        res = mosquitto_pub5(b.port, topic, "payment-9", qos=1,
                             extra=["-D", "publish", "user-property", "wharf-msg-id", "pay-9"])
        assert res.returncode == 0, res.stderr
    mosquitto_pub5(b.port, topic, "other", qos=1)
    out, err = sub.communicate(timeout=15)
    assert out.splitlines() == ["payment-9", "other"], err
    assert snapshot(b)["messages"]["deduplicatedTotal"] == 2
