"""MQTT 5.0 CONNECT/CONNACK (sections 3.1, 3.2), session expiry, DISCONNECT
(3.14) and will messages (3.1.3.2) with real v5 clients and exact bytes.

WHARF_E2E_REFERENCE=mosquitto runs the tests not marked wharf_only against
mosquitto, to prove the tests themselves right."""
import signal
import subprocess
import time

import rawmqtt as r
from mqtt5clients import broker5, broker5_factory, paho5, wharf_only  # noqa: F401 (fixtures)
from mqttclients import paho


def test_v311_and_v5_clients_share_one_port(broker5, uid):
    old = paho(broker5.port, f"{uid}-v311")
    old.subscribe(f"{uid}/mixed", 1)
    new = paho5(broker5.port, f"{uid}-v5")
    assert new.rc == 0
    assert new.subscribe(f"{uid}/mixed", 1) == [1]
    assert new.publish(f"{uid}/mixed", b"from v5", qos=1) == 0
    old.publish(f"{uid}/mixed", b"from 3.1.1", qos=1)
    assert sorted(m.payload for m in old.get_all(2)) == [b"from 3.1.1", b"from v5"]
    assert sorted(m.payload for m in new.get_all(2)) == [b"from 3.1.1", b"from v5"]
    old.disconnect()
    new.disconnect()


@wharf_only  # exact values are Wharf's defaults; mosquitto only sends what differs from the spec's defaults
def test_connack_advertises_default_limits_and_features(broker5, uid):
    c = r.RawClient(broker5.port, version=5)
    present, reason, props = c.connect(f"{uid}-c")
    assert (present, reason) == (False, 0)
    assert props.get(r.RECEIVE_MAXIMUM) == 65535
    assert props.get(r.MAXIMUM_PACKET_SIZE) == 1048576
    assert props.get(r.TOPIC_ALIAS_MAXIMUM) == 10
    assert props.get(r.RETAIN_AVAILABLE) == 1
    assert props.get(r.WILDCARD_SUB_AVAILABLE) == 1
    assert props.get(r.SUB_ID_AVAILABLE) == 1
    assert props.get(r.SHARED_SUB_AVAILABLE) == 1
    assert r.MAXIMUM_QOS not in props.ids(), "absent Maximum QoS means QoS 2 is supported"
    assert r.SERVER_KEEP_ALIVE not in props.ids(), "no cap configured: the client's keep alive stands"
    assert r.ASSIGNED_CLIENT_ID not in props.ids(), "the client chose its id"
    assert len(props.ids()) == len(set(props.ids())), f"each property once: {props}"
    c.close()


@wharf_only  # Wharf's config keys
def test_connack_limits_follow_the_config(broker5_factory, uid):
    b = broker5_factory("[limits]\nreceive_maximum = 7\nmax_packet_size = 4096\ntopic_alias_maximum = 3\n")
    c = r.RawClient(b.port, version=5)
    _, reason, props = c.connect(f"{uid}-c")
    assert reason == 0
    assert (props.get(r.RECEIVE_MAXIMUM), props.get(r.MAXIMUM_PACKET_SIZE), props.get(r.TOPIC_ALIAS_MAXIMUM)) == (7, 4096, 3)
    c.close()


def test_connack_never_claims_a_feature_is_missing(broker5, uid):
    """Retain, wildcard, subscription identifiers and shared subscriptions all
    work, so CONNACK either omits those properties or sets them to 1; QoS 2 is
    supported, so there is no Maximum QoS."""
    c = r.RawClient(broker5.port, version=5)
    _, reason, props = c.connect(f"{uid}-c")
    assert reason == 0
    for ident in (r.RETAIN_AVAILABLE, r.WILDCARD_SUB_AVAILABLE, r.SUB_ID_AVAILABLE, r.SHARED_SUB_AVAILABLE):
        assert props.get(ident, 1) == 1, f"property {ident:#x} = {props.get(ident)}"
    assert r.MAXIMUM_QOS not in props.ids()
    c.close()


def test_empty_client_id_is_assigned_even_without_clean_start(broker5, uid):
    """v5 (3.1.3.1): an empty id is replaced by a unique one, returned in
    CONNACK, whatever Clean Start says; the assigned id names a real session."""
    first = r.RawClient(broker5.port, version=5)
    present, reason, props = first.connect("", clean=False, props=[(r.SESSION_EXPIRY, 60)])
    assert (present, reason) == (False, 0)
    assigned = props.get(r.ASSIGNED_CLIENT_ID)
    assert assigned, f"no Assigned Client Identifier in {props}"
    assert first.subscribe(1, (f"{uid}/assigned", 1)) == [1]
    first.send(r.DISCONNECT_BYTES)
    assert first.closed_by_broker()
    other = r.RawClient(broker5.port, version=5)
    assert other.connect("")[2].get(r.ASSIGNED_CLIENT_ID) not in (None, assigned), "ids are unique"
    again = r.RawClient(broker5.port, version=5)
    present, reason, props = again.connect(assigned, clean=False, props=[(r.SESSION_EXPIRY, 60)])
    assert (present, reason) == (True, 0), "the session kept under the assigned id is resumed"
    assert r.ASSIGNED_CLIENT_ID not in props.ids()
    for c in (other, again):
        c.close()


def test_paho_v5_client_with_empty_id_learns_its_assigned_id(broker5):
    c = paho5(broker5.port, "")
    assert c.rc == 0
    assert getattr(c.connack, "AssignedClientIdentifier", ""), c.connack
    c.disconnect()


def test_server_keep_alive_only_when_the_configured_cap_is_lower(broker5_factory, uid):
    b = broker5_factory("[limits]\nmax_keepalive = 30\n", mosquitto="max_keepalive 30")
    results = {}
    for keepalive in (20, 30, 60, 0):
        c = r.RawClient(b.port, version=5)
        _, reason, props = c.connect(f"{uid}-k{keepalive}", keepalive=keepalive)
        assert reason == 0
        results[keepalive] = props.get(r.SERVER_KEEP_ALIVE)
        c.close()
    assert results == {20: None, 30: None, 60: 30, 0: 30}, results


def test_authentication_method_is_refused_with_0x8c(broker5, uid):
    c = r.RawClient(broker5.port, version=5)
    present, reason, _ = c.connect(f"{uid}-auth", props=[(r.AUTH_METHOD, "SCRAM-SHA-1"), (r.AUTH_DATA, b"abc")])
    assert (present, reason) == (False, r.BAD_AUTH_METHOD)
    assert c.closed_by_broker()


def _password_broker(broker5_factory, tmp_path):
    pw = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(pw), "alice", "s3cret"], check=True, timeout=10)
    return broker5_factory(f'[auth]\nallow_anonymous = false\npassword_file = "{pw}"\n',
                           mosquitto=f"allow_anonymous false\npassword_file {pw}")


@wharf_only  # mosquitto answers a wrong password with 0x87 Not authorized, which the spec also allows
def test_bad_password_gets_0x86(broker5_factory, tmp_path, uid):
    b = _password_broker(broker5_factory, tmp_path)
    wrong = r.RawClient(b.port, version=5)
    assert wrong.connect(f"{uid}-w", username="alice", password="nope")[:2] == (False, r.BAD_USER_OR_PASSWORD)
    assert wrong.closed_by_broker()


def test_anonymous_refused_with_0x87_and_right_password_accepted(broker5_factory, tmp_path, uid):
    b = _password_broker(broker5_factory, tmp_path)
    anonymous = r.RawClient(b.port, version=5)
    assert anonymous.connect(f"{uid}-anon")[:2] == (False, r.NOT_AUTHORIZED)
    assert anonymous.closed_by_broker()
    right = paho5(b.port, f"{uid}-r", username="alice", password="s3cret")
    assert right.rc == 0
    right.disconnect()


@wharf_only  # mosquitto answers a 3.1.1 CONNACK with code 1; the spec (3.1.2.2) lets the server pick
def test_unsupported_protocol_level_6_gets_0x84(broker5, uid):
    c = r.RawClient(broker5.port, version=5)
    c.send(r.connect(f"{uid}-v6", level=6, version=5))
    p = c.read()
    assert p.type == r.CONNACK and p.body[1] == r.UNSUPPORTED_PROTOCOL_VERSION, p
    assert c.closed_by_broker()


# --- Session expiry (3.1.2.11.2) and Clean Start (3.1.2.4) ---------------------------------------

def test_session_expiry_zero_ends_the_session_at_disconnect(broker5, uid):
    c = paho5(broker5.port, f"{uid}-s", clean_start=False)
    c.subscribe(f"{uid}/s", 1)
    c.disconnect()
    paho5(broker5.port, f"{uid}-p").publish(f"{uid}/s", b"lost", qos=1)
    back = paho5(broker5.port, f"{uid}-s", clean_start=False)
    assert back.session_present is False
    back.nothing_for(0.5)
    back.disconnect()


def test_session_kept_for_its_expiry_interval_then_discarded(broker5, uid):
    short = paho5(broker5.port, f"{uid}-short", clean_start=False, session_expiry=1)
    forever = paho5(broker5.port, f"{uid}-forever", clean_start=False, session_expiry=0xFFFFFFFF)
    for c in (short, forever):
        assert c.subscribe(f"{uid}/kept", 1) == [1]
        c.disconnect()
    pub = paho5(broker5.port, f"{uid}-p")
    pub.publish(f"{uid}/kept", b"while away", qos=1)
    back = paho5(broker5.port, f"{uid}-short", clean_start=False, session_expiry=1)
    assert back.session_present is True, "reconnected within the interval"
    assert back.get().payload == b"while away"
    back.disconnect()
    time.sleep(3)  # past the 1 s interval
    gone = paho5(broker5.port, f"{uid}-short", clean_start=False, session_expiry=1)
    assert gone.session_present is False, "the session expired"
    gone.nothing_for(0.3)
    gone.disconnect()
    kept = paho5(broker5.port, f"{uid}-forever", clean_start=False, session_expiry=0xFFFFFFFF)
    assert kept.session_present is True, "0xFFFFFFFF never expires"
    assert kept.get().payload == b"while away"
    kept.disconnect(properties=None)
    pub.disconnect()


def test_clean_start_discards_an_existing_session(broker5, uid):
    c = paho5(broker5.port, f"{uid}-c", clean_start=False, session_expiry=60)
    c.subscribe(f"{uid}/c", 1)
    c.disconnect()
    pub = paho5(broker5.port, f"{uid}-p")
    pub.publish(f"{uid}/c", b"queued", qos=1)
    fresh = paho5(broker5.port, f"{uid}-c", clean_start=True, session_expiry=60)
    assert fresh.session_present is False
    pub.publish(f"{uid}/c", b"after", qos=1)
    fresh.nothing_for(0.5)  # neither the queued message nor the old subscription survived
    fresh.disconnect()
    pub.disconnect()


def test_disconnect_can_shorten_session_expiry_to_zero(broker5, uid):
    c = r.RawClient(broker5.port, version=5)
    c.connect(f"{uid}-d", clean=False, props=[(r.SESSION_EXPIRY, 60)])
    c.subscribe(1, (f"{uid}/d", 1))
    c.send(r.disconnect(0, [(r.SESSION_EXPIRY, 0)]))
    assert c.closed_by_broker()
    again = r.RawClient(broker5.port, version=5)
    assert again.connect(f"{uid}-d", clean=False, props=[(r.SESSION_EXPIRY, 60)])[:2] == (False, 0)
    again.close()


def test_disconnect_can_lengthen_a_nonzero_session_expiry(broker5, uid):
    c = r.RawClient(broker5.port, version=5)
    c.connect(f"{uid}-l", clean=False, props=[(r.SESSION_EXPIRY, 1)])
    c.subscribe(1, (f"{uid}/l", 1))
    c.send(r.disconnect(0, [(r.SESSION_EXPIRY, 60)]))
    assert c.closed_by_broker()
    time.sleep(2.5)  # past the CONNECT's 1 s, well within the DISCONNECT's 60 s
    again = r.RawClient(broker5.port, version=5)
    assert again.connect(f"{uid}-l", clean=False, props=[(r.SESSION_EXPIRY, 60)])[:2] == (True, 0)
    again.close()


def test_disconnect_setting_expiry_after_zero_in_connect_is_a_protocol_error(broker5, uid):
    c = r.RawClient(broker5.port, version=5)
    c.connect(f"{uid}-z")
    c.send(r.disconnect(0, [(r.SESSION_EXPIRY, 30)]))
    reason, _ = c.server_disconnect()
    assert reason == r.PROTOCOL_ERROR


# --- Server DISCONNECT on takeover, keep-alive, shutdown ----------------------------------------

@wharf_only  # mosquitto 2.0.11 closes the old connection without a DISCONNECT
def test_takeover_disconnects_the_old_connection_with_0x8e(broker5, uid):
    first = r.RawClient(broker5.port, version=5)
    first.connect(f"{uid}-same")
    second = r.RawClient(broker5.port, version=5)
    assert second.connect(f"{uid}-same")[:2] == (False, 0)
    assert first.server_disconnect()[0] == r.SESSION_TAKEN_OVER
    second.send(r.PINGREQ_BYTES)
    assert second.read().type == r.PINGRESP


@wharf_only  # mosquitto 2.0.11 closes without a DISCONNECT, and only after ~5 s for a 2 s keep alive
def test_keep_alive_timeout_disconnects_with_0x8d(broker5, uid):
    c = r.RawClient(broker5.port, version=5)
    start = time.monotonic()
    c.connect(f"{uid}-silent", keepalive=2)
    reason, _ = c.server_disconnect(timeout=8)
    elapsed = time.monotonic() - start
    assert reason == r.KEEP_ALIVE_TIMEOUT
    assert 2.5 <= elapsed <= 6, f"closed after {elapsed:.1f}s; 1.5 x 2 s keep alive is 3 s"


@wharf_only  # mosquitto 2.0.11 closes without a DISCONNECT on SIGTERM
def test_sigterm_disconnects_v5_clients_with_0x8b(broker5_factory, uid):
    b = broker5_factory()
    clients = [r.RawClient(b.port, version=5) for _ in range(3)]
    for i, c in enumerate(clients):
        c.connect(f"{uid}-{i}")
    b.proc.send_signal(signal.SIGTERM)
    for c in clients:
        assert c.server_disconnect()[0] == r.SERVER_SHUTTING_DOWN
    assert b.proc.wait(timeout=10) == 0


@wharf_only  # mosquitto 2.0.11 closes the old connection without a DISCONNECT
def test_paho_is_told_its_session_was_taken_over(broker5, uid):
    first = paho5(broker5.port, f"{uid}-same")
    second = paho5(broker5.port, f"{uid}-same")
    assert second.rc == 0
    reason, _ = first.server_disconnect()
    assert reason == r.SESSION_TAKEN_OVER
    second.disconnect()


# --- Will messages (3.1.3.2) --------------------------------------------------------------------

WILL_PROPS = [
    (r.PAYLOAD_FORMAT, 1), (r.MESSAGE_EXPIRY, 600), (r.CONTENT_TYPE, "application/json"),
    (r.RESPONSE_TOPIC, "replies/here"), (r.CORRELATION_DATA, b"\x00\x01corr"),
    (r.USER_PROPERTY, ("b", "2")), (r.USER_PROPERTY, ("a", "1")), (r.USER_PROPERTY, ("b", "3")),
]


def test_will_on_abnormal_close_carries_its_properties(broker5, uid):
    watcher = paho5(broker5.port, f"{uid}-w")
    watcher.subscribe(f"{uid}/will", 1)
    c = r.RawClient(broker5.port, version=5)
    c.connect(f"{uid}-dying", will=(f"{uid}/will", b'{"gone": true}', 1, False, WILL_PROPS))
    c.close()  # no DISCONNECT
    m = watcher.get()
    assert (m.topic, m.payload, m.qos) == (f"{uid}/will", b'{"gone": true}', 1)
    p = m.properties
    assert p.PayloadFormatIndicator == 1
    assert p.ContentType == "application/json"
    assert p.ResponseTopic == "replies/here"
    assert p.CorrelationData == b"\x00\x01corr"
    assert p.UserProperty == [("b", "2"), ("a", "1"), ("b", "3")], "order and repeats kept"
    assert 0 < p.MessageExpiryInterval <= 600
    watcher.disconnect()


def test_no_will_after_normal_disconnect(broker5, uid):
    watcher = paho5(broker5.port, f"{uid}-w")
    watcher.subscribe(f"{uid}/will", 1)
    c = paho5(broker5.port, f"{uid}-polite", will=(f"{uid}/will", b"gone", 1, False))
    c.disconnect()
    watcher.nothing_for(1.0)
    watcher.disconnect()


def test_disconnect_with_will_message_0x04_sends_the_will(broker5, uid):
    watcher = paho5(broker5.port, f"{uid}-w")
    watcher.subscribe(f"{uid}/will", 1)
    c = paho5(broker5.port, f"{uid}-leaving", will=(f"{uid}/will", b"left on purpose", 1, False))
    c.disconnect(reason=r.DISCONNECT_WITH_WILL)
    assert watcher.get().payload == b"left on purpose"
    watcher.disconnect()


def test_will_delay_interval_delays_the_will(broker5, uid):
    watcher = paho5(broker5.port, f"{uid}-w")
    watcher.subscribe(f"{uid}/will", 1)
    c = r.RawClient(broker5.port, version=5)
    # The session must outlive the delay: a will is sent when the session ends at the latest.
    c.connect(f"{uid}-d", clean=False, props=[(r.SESSION_EXPIRY, 30)],
              will=(f"{uid}/will", b"late", 1, False, [(r.WILL_DELAY, 2)]))
    start = time.monotonic()
    c.close()
    watcher.nothing_for(1.2)
    m = watcher.get(timeout=5)
    elapsed = time.monotonic() - start
    assert m.payload == b"late"
    assert 1.8 <= elapsed <= 5, f"will after {elapsed:.1f}s, delay was 2 s"
    watcher.disconnect()


def test_reconnecting_within_the_will_delay_cancels_the_will(broker5, uid):
    watcher = paho5(broker5.port, f"{uid}-w")
    watcher.subscribe(f"{uid}/will", 1)
    c = r.RawClient(broker5.port, version=5)
    c.connect(f"{uid}-flaky", clean=False, props=[(r.SESSION_EXPIRY, 30)],
              will=(f"{uid}/will", b"should not", 1, False, [(r.WILL_DELAY, 2)]))
    c.close()
    time.sleep(0.5)
    back = r.RawClient(broker5.port, version=5)
    assert back.connect(f"{uid}-flaky", clean=False, props=[(r.SESSION_EXPIRY, 30)])[:2] == (True, 0)
    watcher.nothing_for(3.0)
    back.send(r.DISCONNECT_BYTES)
    watcher.disconnect()


def test_will_delay_is_cut_short_when_the_session_ends(broker5, uid):
    """3.1.3.2.2: the will goes at the end of the delay or of the session,
    whichever comes first: a 1 s session with a 30 s delay sends it after ~1 s."""
    watcher = paho5(broker5.port, f"{uid}-w")
    watcher.subscribe(f"{uid}/will", 1)
    c = r.RawClient(broker5.port, version=5)
    c.connect(f"{uid}-brief", clean=False, props=[(r.SESSION_EXPIRY, 1)],
              will=(f"{uid}/will", b"session over", 1, False, [(r.WILL_DELAY, 30)]))
    start = time.monotonic()
    c.close()
    m = watcher.get(timeout=6)
    assert m.payload == b"session over"
    assert time.monotonic() - start < 6
    watcher.disconnect()
