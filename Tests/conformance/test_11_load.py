"""200 concurrent paho clients. Each one subscribes to its own topic and to
its group's shared fan-in pattern, and publishes 20 QoS 1 messages: 18 to
its neighbour's own topic, 2 into a group pattern. A watcher subscribed to
every client's own topic receives all direct traffic (fan-in of 200
publishers). Every message must arrive exactly where expected: nothing
lost, nothing duplicated, per-publisher order kept."""
import collections
import threading
import time

import paho.mqtt.client as mqtt
import pytest

CLIENTS = 200
GROUPS = 10
DIRECT = 18
GROUPED = 2
BUDGET = 60  # seconds for the whole scenario


def new_client(client_id, on_message):
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311,
                    reconnect_on_failure=False)
    c.max_inflight_messages_set(20)
    c.max_queued_messages_set(0)
    c.on_message = on_message
    return c


@pytest.mark.timeout(BUDGET + 30)
def test_200_clients_direct_and_group_fan_in(broker, uid):
    b = broker()
    start = time.monotonic()
    lock = threading.Lock()
    direct = [[] for _ in range(CLIENTS)]
    grouped = [[] for _ in range(CLIENTS)]
    fan_in = []
    subscribed = threading.Semaphore(0)
    clients = []

    def receiver(index):
        def on_message(client, userdata, msg):
            with lock:
                if msg.topic.startswith(f"{uid}/direct/"):
                    direct[index].append((msg.topic, msg.payload.decode(), msg.qos))
                else:
                    grouped[index].append((msg.topic, msg.payload.decode(), msg.qos))
        return on_message

    def watch(client, userdata, msg):
        with lock:
            fan_in.append(msg.payload.decode())

    try:
        watcher = new_client(f"{uid}-watcher", watch)
        watcher.max_inflight_messages_set(100)
        watcher.on_subscribe = lambda *a: subscribed.release()
        clients.append(watcher)
        watcher.connect("127.0.0.1", b.port)
        watcher.loop_start()
        watcher.subscribe(f"{uid}/direct/+", 1)
        for i in range(CLIENTS):
            c = new_client(f"{uid}-{i}", receiver(i))
            c.on_subscribe = lambda *a: subscribed.release()
            c.connect("127.0.0.1", b.port)
            c.loop_start()
            c.subscribe([(f"{uid}/direct/{i}", 1), (f"{uid}/group/{i % GROUPS}/+", 1)])
            clients.append(c)
        for n in range(CLIENTS + 1):
            assert subscribed.acquire(timeout=30), f"only {n} SUBACKs"

        infos = []
        for i, c in enumerate(clients[1:]):
            for n in range(DIRECT):
                infos.append(c.publish(f"{uid}/direct/{(i + 1) % CLIENTS}", f"{i}:{n}", qos=1))
            for n in range(GROUPED):
                infos.append(c.publish(f"{uid}/group/{(i + 1) % GROUPS}/{i}", f"g{i}:{n}", qos=1))
        for info in infos:
            info.wait_for_publish(timeout=max(1, BUDGET - (time.monotonic() - start)))
            assert info.is_published(), "a QoS 1 publish was never acknowledged"

        expected_group_size = GROUPED * CLIENTS // GROUPS
        while time.monotonic() - start < BUDGET:
            with lock:
                done = (sum(map(len, direct)) >= CLIENTS * DIRECT
                        and sum(map(len, grouped)) >= CLIENTS * expected_group_size
                        and len(fan_in) >= CLIENTS * DIRECT)
            if done:
                break
            time.sleep(0.1)
        time.sleep(0.3)  # anything extra (duplicates) would arrive now
        elapsed = time.monotonic() - start
    finally:
        for c in clients:
            c.disconnect()
        for c in clients:
            c.loop_stop()

    problems = []
    for j in range(CLIENTS):
        sender = (j - 1) % CLIENTS
        want = [(f"{uid}/direct/{j}", f"{sender}:{n}", 1) for n in range(DIRECT)]
        if direct[j] != want:
            problems.append(f"client {j}: direct {len(direct[j])}/{DIRECT}, in order: {direct[j] == sorted(direct[j])}")
        senders = [i for i in range(CLIENTS) if (i + 1) % GROUPS == j % GROUPS]
        want_group = sorted((f"{uid}/group/{j % GROUPS}/{i}", f"g{i}:{n}", 1) for i in senders for n in range(GROUPED))
        if sorted(grouped[j]) != want_group:
            problems.append(f"client {j}: group {len(grouped[j])}/{len(want_group)}")
        per_sender = collections.defaultdict(list)
        for topic, payload, _ in grouped[j]:
            per_sender[topic].append(payload)
        if any(v != sorted(v, key=lambda p: int(p.split(":")[1])) for v in per_sender.values()):
            problems.append(f"client {j}: group messages out of per-publisher order")
    want_fan_in = collections.Counter(f"{i}:{n}" for i in range(CLIENTS) for n in range(DIRECT))
    got_fan_in = collections.Counter(fan_in)
    if got_fan_in != want_fan_in:
        missing = sum((want_fan_in - got_fan_in).values())
        extra = sum((got_fan_in - want_fan_in).values())
        problems.append(f"fan-in watcher: {len(fan_in)} received, {missing} missing, {extra} extra")
    assert not problems, f"{len(problems)} problems, e.g.: " + "; ".join(problems[:10])
    assert elapsed < BUDGET, f"took {elapsed:.1f}s"
