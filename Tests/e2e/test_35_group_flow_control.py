"""Publishers into a consumer group are paced as publishers into one session
are: while members are online and making progress, a publisher much faster
than the group waits (flow control) instead of the group dropping messages
it has acknowledged. Real clients: mosquitto_pub with 1,000 QoS 1/2
messages in flight as the publisher, paho members (slower, so the group
really backs up), raw sockets as members that stop reading."""
import collections
import subprocess
import time

import pytest

import rawmqtt
from goodclient import metric
from mqttclients import paho


def start_publisher(port, topic, count, qos, tag):
    """mosquitto_pub sending `count` lines '<tag>:<n>' with 1,000 in flight."""
    proc = subprocess.Popen(
        ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-q", str(qos), "-l", "-M", "1000",
         "-i", f"pub-{tag}"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdin.write("".join(f"{tag}:{n}\n" for n in range(count)))
    proc.stdin.close()
    return proc


def working_member(port, client_id, shared_filter, qos, work_seconds=0.0005):
    """A healthy member that spends `work_seconds` on each message, as a real
    consumer does: slower than a C publisher, so the group backs up."""
    member = paho(port, client_id)
    member.client.on_message = lambda c, u, m: (time.sleep(work_seconds), member.messages.put(m))
    assert member.subscribe(shared_filter, qos) == [qos]
    return member


def collect(members, expected, timeout):
    """Everything the members received until `expected` arrived or `timeout` passed."""
    received = collections.Counter()
    deadline = time.monotonic() + timeout
    while sum(received.values()) < expected and time.monotonic() < deadline:
        for member in members:
            for m in member.get_all(member.messages.qsize(), timeout=0.05):
                received[m.payload.decode()] += 1
        time.sleep(0.05)
    return received


def assert_each_once(received, expected_payloads):
    missing = expected_payloads - set(received)
    duplicated = [p for p, c in received.items() if c > 1]
    assert not missing, f"{len(missing)} of {len(expected_payloads)} acknowledged messages never arrived (e.g. {sorted(missing)[:3]})"
    assert not duplicated, f"{len(duplicated)} delivered twice (e.g. {duplicated[:3]})"
    assert set(received) == expected_payloads


def wait_publishers(publishers, timeout):
    for proc in publishers:
        proc.wait(timeout=timeout)
        assert proc.returncode == 0, proc.stderr.read()


@pytest.mark.parametrize("qos", [1, 2])
def test_fast_publisher_into_a_group_of_four_loses_nothing(broker, uid, qos):
    """The issue's scenario: one publisher, 1,000 in flight, four healthy members."""
    members = [working_member(broker.port, f"{uid}-m{i}", f"$share/grp/{uid}/orders", qos) for i in range(4)]
    count = 20000 if qos == 1 else 8000
    publisher = start_publisher(broker.port, f"{uid}/orders", count, qos, "p")
    received = collect(members, count, timeout=90)
    wait_publishers([publisher], timeout=30)
    assert_each_once(received, {f"p:{n}" for n in range(count)})
    assert metric(broker, "wharf_messages_dropped_total", reason="queue_full") == 0
    # The group really was the bottleneck: flow control had to hold the publisher.
    assert metric(broker, "wharf_publisher_pauses_total") > 0
    for member in members:
        member.disconnect()


def test_sixteen_publishers_into_eight_members_lose_nothing(broker_factory, uid):
    """Many publishers and members, spread over four event loops."""
    broker = broker_factory(extra_args=("--threads", "4"))
    members = [working_member(broker.port, f"{uid}-m{i}", f"$share/grp/{uid}/jobs", 1) for i in range(8)]
    per_publisher = 1500
    publishers = [start_publisher(broker.port, f"{uid}/jobs", per_publisher, 1, f"p{i}") for i in range(16)]
    received = collect(members, 16 * per_publisher, timeout=90)
    wait_publishers(publishers, timeout=30)
    assert_each_once(received, {f"p{i}:{n}" for i in range(16) for n in range(per_publisher)})
    assert metric(broker, "wharf_messages_dropped_total", reason="queue_full") == 0
    assert metric(broker, "wharf_publisher_pauses_total") > 0
    for member in members:
        member.disconnect()


def stuck_member(broker, client_id, shared_filter):
    """A member that subscribes at QoS 1 and then reads nothing at all."""
    stuck = rawmqtt.RawClient(broker.port)
    assert stuck.connect(client_id)[:2] == (False, 0)
    stuck.send(rawmqtt.subscribe(1, (shared_filter, 1)))
    assert stuck.read().type == 9  # SUBACK
    return stuck


def test_a_stuck_member_does_not_stall_the_group_and_its_window_comes_back(broker, uid):
    shared = f"$share/grp/{uid}/work"
    stuck = stuck_member(broker, f"{uid}-stuck", shared)
    members = [working_member(broker.port, f"{uid}-m{i}", shared, 1) for i in range(3)]
    count = 10000
    started = time.monotonic()
    publisher = start_publisher(broker.port, f"{uid}/work", count, 1, "p")
    # Everything but the stuck member's window (20) reaches the others, and
    # the publisher is never held for the stuck one.
    received = collect(members, count - 20, timeout=60)
    wait_publishers([publisher], timeout=30)
    elapsed = time.monotonic() - started
    held = count - sum(received.values())
    assert 0 < held <= 20, f"the stuck member holds {held} (its window is 20); took {elapsed:.1f} s"
    # When it goes, what it held goes to the others: nothing is lost.
    stuck.close()
    received.update(collect(members, held, timeout=20))
    assert_each_once(received, {f"p:{n}" for n in range(count)})
    assert metric(broker, "wharf_messages_dropped_total", reason="queue_full") == 0
    for member in members:
        member.disconnect()


def test_a_group_whose_only_member_is_stuck_drops_past_its_limit_and_counts(broker, uid):
    """Nothing can pace a group nobody drains: after one pause without
    progress the publisher is released, and what passes max_queued_messages
    (1,000) is dropped and counted, as for a stuck single subscriber."""
    stuck = stuck_member(broker, f"{uid}-stuck", f"$share/grp/{uid}/work")
    count = 3000
    publisher = start_publisher(broker.port, f"{uid}/work", count, 1, "p")
    wait_publishers([publisher], timeout=30)
    # 20 in the member's window, 1,000 waiting in the group, the rest dropped.
    deadline = time.monotonic() + 5
    while metric(broker, "wharf_messages_dropped_total", reason="queue_full") != count - 1020 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert metric(broker, "wharf_messages_dropped_total", reason="queue_full") == count - 1020
    stuck.close()
