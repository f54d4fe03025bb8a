"""Topic wildcards and the `$` rule (3.1.1 section 4.7)."""
from mqttclients import paho


def test_single_level_wildcard(broker, uid):
    topics = [f"{uid}/a/x/c", f"{uid}/a/y/c", f"{uid}/a/x/y/c", f"{uid}/a/c", f"{uid}/b/x/c"]
    sub = paho(broker.port, f"{uid}-s")
    sub.subscribe(f"{uid}/a/+/c", 0)
    two = paho(broker.port, f"{uid}-two")
    two.subscribe(f"{uid}/+/+/c", 0)
    pub = paho(broker.port, f"{uid}-p")
    for t in topics:
        pub.publish(t, t.encode(), qos=1)
    assert sorted(m.payload.decode() for m in sub.get_all(2)) == [f"{uid}/a/x/c", f"{uid}/a/y/c"]
    assert sorted(m.payload.decode() for m in two.get_all(3)) == sorted([f"{uid}/a/x/c", f"{uid}/a/y/c", f"{uid}/b/x/c"])
    sub.nothing_for(0.3)
    two.nothing_for(0.1)


def test_multi_level_wildcard_matches_parent(broker, uid):
    topics = [f"{uid}/s", f"{uid}/s/a", f"{uid}/s/a/b", f"{uid}/t"]
    sub = paho(broker.port, f"{uid}-s")
    sub.subscribe(f"{uid}/s/#", 0)
    pub = paho(broker.port, f"{uid}-p")
    for t in topics:
        pub.publish(t, t.encode(), qos=1)
    assert sorted(m.payload.decode() for m in sub.get_all(3)) == sorted(topics[:3])
    sub.nothing_for(0.3)


def test_dollar_topics_not_matched_by_leading_wildcards(broker, uid):
    hash_sub = paho(broker.port, f"{uid}-h")
    hash_sub.subscribe("#", 0)
    plus_sub = paho(broker.port, f"{uid}-plus")
    plus_sub.subscribe(f"+/{uid}", 0)
    explicit = paho(broker.port, f"{uid}-e")
    explicit.subscribe(f"$app/{uid}", 0)
    paho(broker.port, f"{uid}-p").publish(f"$app/{uid}", b"sys", qos=1)
    assert explicit.get().payload == b"sys"
    while True:  # '#' sees other tests' traffic; it must never see ours
        try:
            m = hash_sub.get(timeout=0.5)
        except Exception:
            break
        assert not m.topic.startswith("$"), m.topic
    plus_sub.nothing_for(0.3)
