"""200 concurrent clients publishing and receiving: nothing lost, nothing extra."""
import threading
import time

import paho.mqtt.client as mqtt

CLIENTS = 200
PER_CLIENT = 20


def test_200_clients_ring_and_fan_in(broker, uid):
    received = [[] for _ in range(CLIENTS)]
    fan_in = []
    lock = threading.Lock()
    clients = []

    def on_message(index):
        def handler(client, userdata, msg):
            with lock:
                received[index].append(msg.payload)
        return handler

    watcher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{uid}-watch")
    watcher.on_message = lambda c, u, m: fan_in.append(m.payload)
    watcher.connect("127.0.0.1", broker.port)
    watcher.subscribe(f"{uid}/ring/#", 1)
    watcher.loop_start()

    subscribed = threading.Semaphore(0)
    for i in range(CLIENTS):
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{uid}-{i}")
        c.max_inflight_messages_set(20)
        c.on_message = on_message(i)
        c.on_subscribe = lambda *a: subscribed.release()
        c.connect("127.0.0.1", broker.port)
        c.subscribe(f"{uid}/ring/{i}", 1)
        c.loop_start()
        clients.append(c)
    for _ in range(CLIENTS):
        assert subscribed.acquire(timeout=30)
    time.sleep(0.3)  # the watcher's SUBACK

    # Each client publishes to its neighbour's topic.
    infos = []
    for i, c in enumerate(clients):
        for n in range(PER_CLIENT):
            infos.append(c.publish(f"{uid}/ring/{(i + 1) % CLIENTS}", f"{i}:{n}".encode(), qos=1))
    for info in infos:
        info.wait_for_publish(timeout=60)
        assert info.is_published()

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with lock:
            done = sum(len(r) for r in received)
        if done >= CLIENTS * PER_CLIENT and len(fan_in) >= CLIENTS * PER_CLIENT:
            break
        time.sleep(0.1)

    for i in range(CLIENTS):
        sender = (i - 1) % CLIENTS
        expected = [f"{sender}:{n}".encode() for n in range(PER_CLIENT)]
        assert received[i] == expected, f"client {i} got {len(received[i])} messages"
    assert sorted(fan_in) == sorted(f"{i}:{n}".encode() for i in range(CLIENTS) for n in range(PER_CLIENT))
    for c in clients + [watcher]:
        c.disconnect()
        c.loop_stop()
