"""Topic filters and wildcards (MQTT 3.1.1 section 4.7), including the rule
that filters starting with a wildcard do not match topics starting with '$'
(4.7.2). Each test has its own broker, so literal topics are safe (the
broker publishes its own $SYS/broker/... topics, so the table uses '$test')."""
import pytest

import mqtt_raw as raw
from mqttclients import mosquitto_pub, mosquitto_sub, paho

TOPICS = [
    "sport", "sport/", "sport/tennis", "sport/tennis/player1", "sport/tennis/player1/ranking",
    "sport/tennis/player1/score/wimbledon", "sport/tennis/player2", "sport/football",
    "/finance", "finance", "a//b", "a/x/b", "Sport/Tennis", "$test/broker/load", "$test", "$other/x",
    "x$/y",
]

# filter -> the topics of TOPICS it must match (4.7.1 and its examples)
EXPECTED = {
    "sport/tennis/player1/#": {"sport/tennis/player1", "sport/tennis/player1/ranking",
                               "sport/tennis/player1/score/wimbledon"},
    "sport/#": {"sport", "sport/", "sport/tennis", "sport/tennis/player1", "sport/tennis/player1/ranking",
                "sport/tennis/player1/score/wimbledon", "sport/tennis/player2", "sport/football"},
    "#": {t for t in TOPICS if not t.startswith("$")},
    "sport/tennis/+": {"sport/tennis/player1", "sport/tennis/player2"},
    "sport/+": {"sport/", "sport/tennis", "sport/football"},
    "+": {"sport", "finance"},
    "+/+": {"sport/", "sport/tennis", "sport/football", "/finance", "Sport/Tennis", "x$/y"},
    "/+": {"/finance"},
    "+/tennis/#": {"sport/tennis", "sport/tennis/player1", "sport/tennis/player1/ranking",
                   "sport/tennis/player1/score/wimbledon", "sport/tennis/player2"},
    "a/+/b": {"a//b", "a/x/b"},
    "Sport/Tennis": {"Sport/Tennis"},
    "$test/#": {"$test/broker/load", "$test"},
    "$test/+/load": {"$test/broker/load"},
    "+/broker/load": set(),
    "+/x": set(),
    "x$/+": {"x$/y"},
}


def test_filter_matching_table(broker):
    """One subscriber per filter, every topic published once: each subscriber
    receives exactly the topics its filter matches, once each."""
    b = broker()
    subs = {}
    for i, f in enumerate(EXPECTED):
        c = raw.RawClient(b.port)
        c.connect(f"wild-{i}")
        assert c.subscribe(1, (f, 0)) == [0], f
        subs[f] = c
    pub = raw.RawClient(b.port)
    pub.connect("wild-pub")
    for i, t in enumerate(TOPICS):
        pub.publish_qos1(t, t.encode(), pid=i + 1)
    failures = []
    for f, c in subs.items():
        got = [p.topic for p in c.read_all(quiet=0.2) if p.type == raw.PUBLISH]
        if sorted(got) != sorted(EXPECTED[f]):
            failures.append(f"{f!r}: got {sorted(got)}, expected {sorted(EXPECTED[f])}")
    assert not failures, "\n".join(failures)


def test_multi_level_wildcard_matches_the_parent_level(broker, uid):
    """4.7.1.2: 'sport/#' also matches 'sport'."""
    b = broker()
    sub = paho(b.port, f"{uid}-s")
    sub.subscribe(f"{uid}/a/#", 1)
    pub = paho(b.port, f"{uid}-p")
    for t in (f"{uid}/a", f"{uid}/a/b", f"{uid}/ab", f"{uid}"):
        pub.publish(t, t.encode(), qos=1)
    assert sorted(m.topic for m in sub.get_all(3, timeout=1.0)) == [f"{uid}/a", f"{uid}/a/b"]


def test_dollar_topics_need_an_explicit_first_level(broker, uid):
    """4.7.2-1: '#' and '+/...' do not match '$.../...'; an explicit filter does."""
    b = broker()
    hash_sub = paho(b.port, f"{uid}-h")
    hash_sub.subscribe("#", 1)
    plus_sub = paho(b.port, f"{uid}-plus")
    plus_sub.subscribe("+/monitor/#", 1)
    explicit = paho(b.port, f"{uid}-e")
    explicit.subscribe(f"$app{uid}/#", 1)
    pub = paho(b.port, f"{uid}-p")
    pub.publish(f"$app{uid}/monitor/clients", b"sys", qos=1)
    pub.publish("app/monitor/clients", b"app", qos=1)
    assert [m.payload for m in explicit.get_all(2, timeout=1.0)] == [b"sys"]
    assert [m.payload for m in hash_sub.get_all(2, timeout=1.0)] == [b"app"]
    assert [m.payload for m in plus_sub.get_all(2, timeout=1.0)] == [b"app"]


@pytest.mark.parametrize("flt", ["#", "+/+/+"])
def test_mosquitto_sub_wildcards(broker, uid, flt):
    b = broker()
    sub = mosquitto_sub(b.port, flt, 2, qos=1)
    for t in (f"{uid}/1/2", f"$test/{uid}/2", f"{uid}/2/3"):
        assert mosquitto_pub(b.port, t, t, qos=1).returncode == 0
    got = sub.messages()
    assert [m[0] for m in got] == [f"{uid}/1/2", f"{uid}/2/3"]


def test_wildcard_subscription_added_and_removed(broker, uid):
    b = broker()
    sub = paho(b.port, f"{uid}-s")
    sub.subscribe(f"{uid}/+/temp", 1)
    pub = paho(b.port, f"{uid}-p")
    pub.publish(f"{uid}/kitchen/temp", b"21", qos=1)
    assert sub.get().topic == f"{uid}/kitchen/temp"
    sub.unsubscribe(f"{uid}/+/temp")
    pub.publish(f"{uid}/kitchen/temp", b"22", qos=1)
    sub.assert_nothing_for(0.4)


def test_unsubscribe_must_name_the_filter_exactly(broker, uid):
    """UNSUBSCRIBE compares filters character by character (3.10.4-1): a
    different filter that matches the same topics removes nothing."""
    b = broker()
    sub = paho(b.port, f"{uid}-s")
    sub.subscribe(f"{uid}/+", 1)
    sub.unsubscribe(f"{uid}/#")
    paho(b.port, f"{uid}-p").publish(f"{uid}/x", b"still", qos=1)
    assert sub.get().payload == b"still"


def test_the_brokers_own_sys_topics_are_not_matched_by_hash(broker, uid):
    """The broker publishes $SYS/broker/... (retained). '#' and '+/broker/#'
    never see them; '$SYS/#' does."""
    b = broker()
    everything = raw.RawClient(b.port)
    everything.connect(f"{uid}-all")
    everything.subscribe(1, ("#", 0), ("+/broker/#", 0))
    sys_sub = raw.RawClient(b.port)
    sys_sub.connect(f"{uid}-sys")
    sys_sub.subscribe(1, ("$SYS/#", 0))
    sys_topics = [p.topic for p in sys_sub.read_all(quiet=0.5) if p.type == raw.PUBLISH]
    assert any(t.startswith("$SYS/broker/") for t in sys_topics), sys_topics
    assert [p.topic for p in everything.read_all(quiet=0.3) if p.type == raw.PUBLISH] == []


def test_clients_cannot_overwrite_the_brokers_sys_topics(broker, uid):
    """4.7.2: the server SHOULD prevent clients from using '$' topic names to
    exchange messages with other clients. Mosquitto refuses client writes to
    $SYS. A client that publishes a retained '$SYS/broker/version' must not
    replace what the broker reports there."""
    b = broker()
    pub = raw.RawClient(b.port)
    pub.connect(f"{uid}-forger")
    pub.send(raw.publish("$SYS/broker/version", b"forged 9.9.9", qos=1, pid=1, retain=True))
    pub.read_all(quiet=0.3)  # a PUBACK, or a closed connection: either is fine
    reader = raw.RawClient(b.port)
    reader.connect(f"{uid}-reader")
    reader.subscribe(1, ("$SYS/broker/version", 0))
    got = [p.payload for p in reader.read_all(quiet=0.5) if p.type == raw.PUBLISH]
    assert got and all(b"forged" not in v for v in got), f"$SYS/broker/version reads {got}"


def test_topics_are_matched_byte_for_byte_without_unicode_normalisation(broker, uid):
    """4.7.3: topic names and filters are compared without any
    transformation. 'café' written NFC (c3 a9) and NFD (65 cc 81) are two
    different topics; so is '/' followed by a combining mark a level break."""
    b = broker()
    nfc, nfd = f"{uid}/caf\u00e9", f"{uid}/cafe\u0301"
    subs = {}
    for name, flt in (("nfc", nfc), ("nfd", nfd), ("nfd-level", f"{uid}/+/x")):
        c = raw.RawClient(b.port)
        c.connect(f"{uid}-{name}")
        c.subscribe(1, (flt, 1))
        subs[name] = c
    pub = raw.RawClient(b.port)
    pub.connect(f"{uid}-pub")
    pub.publish_qos1(nfc, b"nfc", pid=1)
    pub.publish_qos1(nfd, b"nfd", pid=2)
    pub.publish_qos1(f"{uid}/\u0301/x", b"combining mark level", pid=3)
    got = {name: [p.payload for p in c.read_all(quiet=0.3) if p.type == raw.PUBLISH] for name, c in subs.items()}
    assert got == {"nfc": [b"nfc"], "nfd": [b"nfd"], "nfd-level": [b"combining mark level"]}
