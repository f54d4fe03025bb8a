"""The cluster chaos run (issue 18's bar; docs/cluster.md, "The chaos test").

Three Wharf nodes over three nats-servers on 127.0.0.1. Paho publishers at
QoS 1 and QoS 2 and persistent subscribers (3.1.1, clean session 0, QoS 2)
are spread over the nodes; every client that loses its connection connects
again to another node, keeping its session. A seeded loop kills (SIGKILL) a
random Wharf node or one random nats-server, never two at once, waits, and
starts it again. At the end, every message a publisher got PUBACK or PUBCOMP
for must have reached every persistent subscriber, and QoS 2 ones exactly
once. With `group=True`, three persistent members of one consumer group
(`$share/chaos-group/chaos/#`, QoS 2) roam too, and every such message must
have reached one of them, the QoS 2 publisher's exactly once over all three.

    result = run(cycles=5, seed=1, directory=tmp_path)
    print(result.summary())   # "5 cycles, M acknowledged, 0 lost, D duplicates"

Used by `scripts/cluster-crash-test N`. Every
wait is bounded; the processes die with the run.
"""
from __future__ import annotations

import collections
import dataclasses
import pathlib
import random
import threading
import time

import paho.mqtt.client as mqtt

from natscluster import NatsCluster
from wharfcluster import WharfCluster

TOPIC = "chaos"


class Roamer:
    """A paho 3.1.1 client with a persistent session that, when its connection
    is lost or refused, connects to another running node (chosen by the run's
    random source) and keeps its session."""

    def __init__(self, client_id: str, cluster: WharfCluster, rng: random.Random, lock: threading.Lock):
        self.cluster, self.rng, self.lock = cluster, rng, lock
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False,
                                  protocol=mqtt.MQTTv311)
        self.client.max_inflight_messages_set(20)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(0.2, 1.0)
        _keep_pending_pubrels(self.client)
        self.connects = 0
        self.sessions_lost = 0
        # (monotonic time, what happened, port): for the report of a loss.
        self.events: list[tuple[float, str, int]] = []
        self.port = 0
        self.connected = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *a: self._move()
        self.client.on_connect_fail = lambda *a: self._move()

    def start(self) -> None:
        self.port = self._a_port()
        self.client.connect_async("127.0.0.1", self.port, keepalive=10)
        self.client.loop_start()

    def _a_port(self) -> int:
        with self.lock:
            ports = [n.port for n in self.cluster.nodes if n.running]
            return self.rng.choice(ports) if ports else self.cluster.nodes[0].port

    def _move(self) -> None:
        self.connected.clear()
        self.events.append((time.monotonic(), "lost", self.port))
        self.port = self._a_port()
        self.client.connect_async("127.0.0.1", self.port, keepalive=10)

    def _on_connect(self, client, userdata, flags, reason, properties) -> None:
        if reason.is_failure:
            return
        self.connects += 1
        self.events.append((time.monotonic(), "connected" if flags.session_present else "connected, new session", self.port))
        if self.connects > 1 and not flags.session_present:
            self.sessions_lost += 1
        self.connected.set()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _keep_pending_pubrels(client: mqtt.Client) -> None:
    """Works around a paho-mqtt 2.2.0 bug that makes a publisher send a QoS 2
    message twice. A reconnect marks each message awaiting PUBCOMP "resend
    PUBREL", and the CONNACK sends those PUBRELs; but a CONNACK that refuses
    the connection (a node without its cluster lease) sends nothing, and the
    next reconnect turns "resend PUBREL" into "publish": the message goes
    out again as a new PUBLISH, without DUP, under an id the broker has
    already released, so any broker must take it as a new message. (The
    chaos run saw exchanges the broker had completed come back this way.)
    Here "resend PUBREL" is kept until a CONNACK that accepts sends it."""
    reset = client._messages_reconnect_reset_out

    def reset_keeping_pubrels() -> None:
        with client._out_message_mutex:
            pending = [m for m in client._out_messages.values()
                       if m.qos == 2 and m.state == mqtt.mqtt_ms_resend_pubrel]
            for m in pending:
                m.state = mqtt.mqtt_ms_wait_for_pubcomp
        reset()

    client._messages_reconnect_reset_out = reset_keeping_pubrels


class _TracedInMessages(collections.OrderedDict):
    """paho's QoS 2 messages awaiting PUBREL, traced: when one arrived, and
    when it was replaced by another PUBLISH under the same packet id before
    its PUBREL (so it was never handed over). For the report of a loss."""

    def __init__(self, trace):
        super().__init__()
        self.trace = trace

    def __setitem__(self, mid, message):
        old = self.get(mid)
        if old is not None and old.payload != message.payload:
            self.trace.append((time.monotonic(), "replaced", mid, old.payload))
        self.trace.append((time.monotonic(), "awaiting PUBREL", mid, message.payload))
        super().__setitem__(mid, message)


class Subscriber(Roamer):
    def __init__(self, *args):
        super().__init__(*args)
        # (monotonic time, what, packet id, payload) of QoS 2 arrivals.
        self.qos2_trace: list[tuple[float, str, int, bytes]] = []
        self.client._in_messages = _TracedInMessages(self.qos2_trace)
        self.received = collections.Counter()
        # payload -> [(monotonic time, packet id, DUP flag)], for the report.
        self.receipts: dict[bytes, list[tuple[float, int, bool]]] = collections.defaultdict(list)
        self.subscribed = threading.Event()
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: self.subscribed.set()

    def _on_message(self, client, userdata, message) -> None:
        self.received.update([message.payload])
        self.receipts[message.payload].append((time.monotonic(), message.mid, bool(message.dup)))

    def subscribe(self) -> None:
        # Once: the session keeps it from then on, wherever it reconnects.
        self.client.subscribe(f"{TOPIC}/#", 2)


class GroupMember(Subscriber):
    """A persistent member of the run's consumer group, at `qos` (2 by default)."""

    qos = 2

    def subscribe(self) -> None:
        self.client.subscribe(f"$share/{GROUP}/{TOPIC}/#", self.qos)


GROUP = "chaos-group"


class Publisher(Roamer):
    def __init__(self, client_id: str, qos: int, *args):
        super().__init__(client_id, *args)
        self.qos = qos
        self.name = client_id
        self.sent: list[tuple[bytes, mqtt.MQTTMessageInfo]] = []
        self.sent_at: dict[bytes, float] = {}

    def publish(self, number: int) -> None:
        # Only while connected: paho refuses a publish otherwise (the
        # application would retry it; here it is simply not sent).
        if not self.connected.is_set():
            return
        payload = f"{self.name}:{number}".encode()
        self.sent_at[payload] = time.monotonic()
        self.sent.append((payload, self.client.publish(f"{TOPIC}/{self.name}", payload, qos=self.qos)))

    @staticmethod
    def _done(info: mqtt.MQTTMessageInfo) -> bool | None:
        """True: acknowledged; False: on its way; None: paho refused it."""
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            return None
        return info.is_published()

    def acknowledged(self) -> list[bytes]:
        return [payload for payload, info in self.sent if self._done(info)]

    def pending(self) -> int:
        return sum(1 for _, info in self.sent if self._done(info) is False)


@dataclasses.dataclass
class Result:
    cycles: int
    acknowledged: int
    lost: int
    duplicates: int
    qos2_duplicates: int
    sessions_lost: int
    victims: list[str]
    details: list[str]
    # What the nats-servers logged of losing their own copy of WHARF_Q
    # (`SERVER_FAULTS`): after that, what the run sees is JetStream's.
    server_faults: list[str] = dataclasses.field(default_factory=list)
    # The consumer group's (with `group=True`): messages no member got, and
    # copies beyond the first over all members (allowed for the QoS 1
    # publisher's), and those of the QoS 2 publisher's (never).
    group_lost: int = 0
    group_duplicates: int = 0
    group_qos2_duplicates: int = 0

    def summary(self) -> str:
        faults = ""
        if self.server_faults:
            streams = collections.Counter(
                line.split("'$G > ")[1].split("'")[0] for line in self.server_faults if "Resetting" in line and "'$G > " in line)
            faults = "; nats-server reset " + ", ".join(f"{name} {n} times" for name, n in sorted(streams.items()))
        group = (f"; group: {self.group_lost} lost, {self.group_duplicates} duplicates "
                 f"({self.group_qos2_duplicates} of QoS 2)" if self.group_lost or self.group_duplicates else "")
        return (f"{self.cycles} cycles, {self.acknowledged} acknowledged, {self.lost} lost, "
                f"{self.duplicates} duplicates ({self.qos2_duplicates} of QoS 2){group}{faults}")

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.qos2_duplicates == 0 and self.group_lost == 0 and self.group_qos2_duplicates == 0


# nats-server 2.9.10, after a kill -9, can hold a different copy of a
# stream than its peers (docs/cluster.md, "The chaos test"). When it leads,
# the others fail to apply its operations ("stream store EOF") and reset
# their copy to its: messages they held are gone from the stream. These
# lines say so, for any stream: the session queues (WHARF_Q), the groups'
# queues (WHARF_G), the session records (KV_wharf_sessions).
SERVER_FAULTS = ("Error applying entries to '$G > ", "Resetting stream cluster state for '$G > ")


def server_faults(nats: NatsCluster) -> list[str]:
    return [f"{name}: {line.strip()}" for i, name in enumerate(nats.names)
            for line in nats.log(i).splitlines() if any(fault in line for fault in SERVER_FAULTS)]


def wait(what: str, check, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"after {timeout:.0f} s: {what}")
        time.sleep(0.1)


def run(cycles: int, seed: int, directory: pathlib.Path, rate: float = 100.0, log=print, group: bool = False,
        group_qos: int = 2) -> Result:
    """`cycles` kill-and-restart rounds while two publishers (QoS 1, QoS 2)
    each send about `rate` messages a second to two persistent subscribers
    (and, with `group`, to a consumer group of three persistent members)."""
    rng = random.Random(seed)
    lock = threading.Lock()
    began = time.monotonic()
    nats = NatsCluster(directory / "nats")
    cluster = None
    clients: list[Roamer] = []
    try:
        # Room for every message of the run in a session's queue: what is
        # tested is that nothing acknowledged is lost, not the queue limit
        # (a full queue drops and counts the newest, as on one node).
        cluster = WharfCluster(nats, directory, ("node-a", "node-b", "node-c"),
                               extra_config="group_ack_wait = 5\n[limits]\nmax_queued_messages = 1000000\n")
        subscribers = [Subscriber(f"chaos-sub-{i}", cluster, rng, lock) for i in range(2)]
        members = [GroupMember(f"chaos-member-{i}", cluster, rng, lock) for i in range(3 if group else 0)]
        for member in members:
            member.qos = group_qos
        publishers = [Publisher(f"chaos-pub-q{qos}", qos, cluster, rng, lock) for qos in (1, 2)]
        clients = [*subscribers, *members, *publishers]
        for client in clients:
            client.start()
        for sub in [*subscribers, *members]:
            wait(f"{sub.client._client_id!r} connected", sub.connected.is_set, 10)
            sub.subscribe()
            wait("SUBACK", sub.subscribed.is_set, 10)
        # Every node routes both sessions' subscriptions (and the group)
        # before the first publish.
        for node in cluster.nodes:
            cluster.wait_session_routes(node, 2)
            if group:
                cluster._poll(lambda node=node: cluster.group_routes(node) >= 1 or None, 10,
                              lambda last, node=node: f"{node.name} does not route the group", node)
        time.sleep(1.0 if group else 0)  # the members' nodes' first pulls reach the server

        stop = threading.Event()

        def publishing():
            number = 0
            while not stop.is_set():
                for pub in publishers:
                    pub.publish(number)
                number += 1
                time.sleep(1 / rate)

        sender = threading.Thread(target=publishing, daemon=True)
        sender.start()
        victims: list[str] = []
        try:
            for cycle in range(cycles):
                time.sleep(rng.uniform(1.0, 2.0))
                if rng.random() < 0.5:
                    node = rng.choice(cluster.nodes)
                    victims.append(node.name)
                    log(f"{time.monotonic() - began:7.2f} s cycle {cycle + 1}: kill -9 {node.name}")
                    with lock:
                        cluster.kill(node)
                    time.sleep(rng.uniform(1.0, 3.0))
                    cluster.restart(node)
                else:
                    i = rng.randrange(3)
                    victims.append(nats.names[i])
                    log(f"{time.monotonic() - began:7.2f} s cycle {cycle + 1}: kill -9 {nats.names[i]}")
                    nats.kill(i)
                    time.sleep(rng.uniform(1.0, 3.0))
                    nats.restart(i)
                    # "Never two at once": a server still catching up counts
                    # as down, so the next kill waits until it has caught up.
                    if not nats.wait_streams_current(30):
                        log(f"{time.monotonic() - began:7.2f} s {nats.names[i]}'s streams not current after 30 s")
                    for node in cluster.nodes:
                        cluster.wait_ready(node)
            time.sleep(1.0)
        finally:
            stop.set()
            sender.join(timeout=10)

        # Every message is settled: acknowledged, or given up by nobody
        # (paho keeps sending until it is).
        try:
            wait("every publish acknowledged", lambda: all(p.pending() == 0 for p in publishers), 60)
        except TimeoutError:
            log(f"still unacknowledged: {[p.pending() for p in publishers]}")
        acknowledged = {payload: pub.qos for pub in publishers for payload in pub.acknowledged()}

        def missing(sub):
            return [p for p in acknowledged if sub.received[p] == 0]

        def group_missing():
            return [p for p in acknowledged if not any(m.received[p] for m in members)] if members else []

        try:
            wait("every acknowledged message received",
                 lambda: all(not missing(s) for s in subscribers) and not group_missing(), 90)
        except TimeoutError:
            pass
        time.sleep(1.0)  # late duplicates
        lost = sum(len(missing(s)) for s in subscribers)
        duplicates = sum(n - 1 for s in subscribers for n in list(s.received.values()) if n > 1)
        qos2_duplicates = sum(s.received[p] - 1 for s in subscribers for p, q in acknowledged.items()
                              if q == 2 and s.received[p] > 1)
        names = {node.port: node.name for node in cluster.nodes}
        sent_at = {payload: at for pub in publishers for payload, at in pub.sent_at.items()}

        def story(client: Roamer) -> str:
            return ", ".join(f"{at - began:.2f} {what} {names.get(port, port)}" for at, what, port in client.events)

        details = []
        for sub in subscribers:
            gone = sorted(missing(sub), key=lambda p: sent_at.get(p, 0))
            if gone:
                details.append(f"{sub.client._client_id.decode()}: missing {len(gone)}, sent "
                               f"{sent_at[gone[0]] - began:.2f} to {sent_at[gone[-1]] - began:.2f} s: "
                               f"{[p.decode() for p in gone[:6]]}")
                details.append(f"  its connections: {story(sub)}")
                for payload in gone[:3]:
                    seen = [f"{at - began:.2f} {what} #{mid}" for at, what, mid, p in sub.qos2_trace if p == payload]
                    details.append(f"  {payload.decode()}: {', '.join(seen) or 'never arrived'}")
        for sub in subscribers:
            twice = sorted((p for p, q in acknowledged.items() if q == 2 and sub.received[p] > 1),
                           key=lambda p: sent_at.get(p, 0))
            if twice:
                details.append(f"{sub.client._client_id.decode()}: QoS 2 more than once: "
                               + ", ".join(f"{p.decode()} (sent {sent_at[p] - began:.2f} s)" for p in twice[:6]))
                # What arrived around the first one: time, packet id, DUP.
                first = sent_at[twice[0]]
                near = sorted((at, p, mid, dup) for p, seen in list(sub.receipts.items()) for at, mid, dup in seen
                              if abs(sent_at.get(p, 0) - first) < 0.05)
                details.append("  around it: " + ", ".join(
                    f"{p.decode().split(':')[-1]}@{at - began:.2f}#{mid}{'D' if dup else ''}" for at, p, mid, dup in near))
                details.append(f"  its connections: {story(sub)}")
        if details:
            details += [f"  {pub.name}: {story(pub)}" for pub in publishers]
            # Everything each subscriber got, in order, beside the nodes' logs.
            for sub in subscribers:
                rows = sorted((at, mid, dup, p) for p, seen in list(sub.receipts.items()) for at, mid, dup in seen)
                (directory / f"received-{sub.client._client_id.decode()}.txt").write_text("".join(
                    f"{at - began:.3f} #{mid}{' DUP' if dup else ''} {p.decode()}\n" for at, mid, dup, p in rows))
            # And what each publisher sent: when, under which packet id.
            for pub in publishers:
                (directory / f"sent-{pub.name}.txt").write_text("".join(
                    f"{pub.sent_at[p] - began:.3f} #{info.mid} "
                    f"{ {True: 'acknowledged', False: 'pending', None: 'refused'}[Publisher._done(info)]} "
                    f"{p.decode()}\n" for p, info in pub.sent))
        group_gone = sorted(group_missing(), key=lambda p: sent_at.get(p, 0))
        if group_gone:
            details.append(f"group: no member got {len(group_gone)}, sent {sent_at[group_gone[0]] - began:.2f} to "
                           f"{sent_at[group_gone[-1]] - began:.2f} s: {[p.decode() for p in group_gone[:6]]}")
            for payload in group_gone[:3]:
                seen = [f"{m.client._client_id.decode()} {at - began:.2f} {what} #{mid}"
                        for m in members for at, what, mid, p in m.qos2_trace if p == payload]
                details.append(f"  {payload.decode()}: {', '.join(seen) or 'never arrived'}")
            details += [f"  {m.client._client_id.decode()}: {story(m)}" for m in members]
            for m in members:
                rows = sorted((at, mid, dup, p) for p, seen in list(m.receipts.items()) for at, mid, dup in seen)
                (directory / f"received-{m.client._client_id.decode()}.txt").write_text("".join(
                    f"{at - began:.3f} #{mid}{' DUP' if dup else ''} {p.decode()}\n" for at, mid, dup, p in rows))
        group_received = collections.Counter()
        for m in members:
            group_received.update(m.received)
        # Exactly once only where the members took QoS 2.
        group_twice = sorted((p for p, q in acknowledged.items() if q == 2 and group_received[p] > 1 and group_qos == 2),
                             key=lambda p: sent_at.get(p, 0))
        if group_twice:
            details.append("group: QoS 2 more than once: " + ", ".join(
                f"{p.decode()} (sent {sent_at[p] - began:.2f} s, "
                + "; ".join(f"{m.client._client_id.decode()} {at - began:.2f}#{mid}{'D' if dup else ''}"
                            for m in members for at, mid, dup in m.receipts.get(p, [])) + ")"
                for p in group_twice[:6]))
            for payload in group_twice[:3]:
                seen = [f"{m.client._client_id.decode()} {at - began:.2f} {what} #{mid}"
                        for m in members for at, what, mid, p in m.qos2_trace if p == payload]
                details.append(f"  {payload.decode()}: {', '.join(seen)}")
            details += [f"  {m.client._client_id.decode()}: {story(m)}" for m in members]
        faults = server_faults(nats)
        return Result(cycles, len(acknowledged), lost, duplicates, qos2_duplicates,
                      sum(c.sessions_lost for c in clients), victims, details + faults, faults,
                      group_lost=len(group_gone), group_duplicates=sum(n - 1 for n in group_received.values() if n > 1),
                      group_qos2_duplicates=sum(group_received[p] - 1 for p in group_twice))
    finally:
        for client in clients:
            try:
                client.stop()
            except Exception:
                pass
        if cluster is not None:
            cluster.close(check=False)
        nats.close()
