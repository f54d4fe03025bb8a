"""The kill -9 check behind "nothing acknowledged is ever lost", shared by
scripts/crash-test and test_30_crash_durability.py.

One cycle: paho publishers send QoS 1 or 2 messages, each payload a unique
id, to a topic that an offline persistent subscriber session subscribed to;
the broker is killed with SIGKILL at a random moment under that load and
restarted on the same data directory (with group=True the subscription is
a consumer group's, `$share/crash/<topic>`, and the messages wait in the
group's queue); the subscriber reconnects
(clean session = 0) and drains its queue. An id counts as acknowledged when
paho saw its PUBACK (QoS 1) or PUBCOMP (QoS 2), i.e. when on_publish fired:
every one of those must come out of the drain. Cycles share one data
directory, so state recovered by one restart is carried into the next.

Only paho-mqtt and the standard library: the script imports this outside pytest.
"""
import collections
import dataclasses
import pathlib
import random
import re
import signal
import subprocess
import threading
import time

import paho.mqtt.client as mqtt

TOPIC = "crash/load"
SUBSCRIBER = "crash-test-subscriber"  # fixed: the same persistent session every cycle
GROUP_FILTER = f"$share/crash/{TOPIC}"

# The offline subscriber's queue must hold a whole burst of load: at the
# default max_queued_messages (1000) the broker would drop the overflow by
# design, which is not the loss this test is after. A wider in-flight window
# only makes the drain faster.
CONFIG = """[limits]
max_queued_messages = 0
max_inflight_messages = 100
"""


def supports_storage(wharf: str) -> bool:
    """Whether this wharf binary has durable storage (`serve --data-dir`) yet."""
    out = subprocess.run([wharf, "serve", "--help"], capture_output=True, text=True, timeout=30)
    return "--data-dir" in out.stdout


class Wharf:
    """One `wharf serve` process; stdout and stderr go to files in workdir
    (a pipe nobody reads could fill and block the broker)."""

    def __init__(self, wharf: str, workdir: pathlib.Path, storage_args: list[str], name: str):
        self.log_path = workdir / f"{name}.log"
        out_path = workdir / f"{name}.out"
        config = workdir / "wharf.toml"
        config.write_text(CONFIG)
        args = [wharf, "serve", "--bind", "127.0.0.1", "--port", "0", "--metrics-port", "0",
                "--config", str(config), "--log-level", "info", *storage_args]
        with out_path.open("w") as out, self.log_path.open("w") as err:
            self.proc = subprocess.Popen(args, stdout=out, stderr=err)
        # The ready line comes once the listener is bound, so after recovery.
        deadline = time.monotonic() + 60
        while not (m := re.search(r"listening on [\d.]+:(\d+)", out_path.read_text())):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"wharf did not start ({' '.join(args)}):\n{self.log()[-3000:]}")
            time.sleep(0.02)
        self.port = int(m.group(1))

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> int:
        if self.proc.poll() is None:
            self.proc.kill()
        return self.proc.wait(timeout=10)

    def terminate(self, timeout=30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise


def client(client_id: str, clean: bool) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean,
                    protocol=mqtt.MQTTv311, reconnect_on_failure=False)
    # Never reconnect by itself: a publisher must not reach the restarted
    # broker, and each drain is one connection we open on purpose.
    c.max_queued_messages_set(0)
    return c


def connect(c: mqtt.Client, port: int) -> bool:
    """Connects and starts the network thread; returns the session present flag."""
    connack = collections.deque()
    done = threading.Event()

    def on_connect(_c, _u, flags, rc, _p):
        connack.append((flags.session_present, rc))
        done.set()

    c.on_connect = on_connect
    c.connect("127.0.0.1", port, keepalive=30)
    c.loop_start()
    if not done.wait(15):
        raise RuntimeError(f"no CONNACK from 127.0.0.1:{port}")
    session_present, rc = connack[0]
    if rc != 0:
        raise RuntimeError(f"CONNACK refused: {rc}")
    return session_present


def disconnect(c: mqtt.Client) -> None:
    """DISCONNECT, and wait until paho has written it: loop_stop alone could
    end the network thread with our last PUBACKs/PUBCOMPs still unsent."""
    gone = threading.Event()
    c.on_disconnect = lambda *_: gone.set()
    if c.disconnect() == mqtt.MQTT_ERR_SUCCESS:
        gone.wait(5)
    c.loop_stop()


def subscribe_persistent(port: int, qos: int, topic_filter: str = TOPIC) -> None:
    """Creates the subscriber's persistent session and subscription, then goes offline."""
    c = client(SUBSCRIBER, clean=False)
    connect(c, port)
    granted = threading.Event()
    c.on_subscribe = lambda *_: granted.set()
    c.subscribe(topic_filter, qos)
    if not granted.wait(10):
        raise RuntimeError("no SUBACK")
    disconnect(c)


class Publisher:
    """Publishes as fast as its in-flight window allows until stopped."""

    def __init__(self, port: int, name: str, qos: int, inflight: int):
        self.name, self.qos = name, qos
        self.client = client(name, clean=True)
        self.client.max_inflight_messages_set(inflight)
        # Our own window, so we wait for acknowledgements instead of paho
        # queueing an unbounded backlog in memory.
        self.window = threading.Semaphore(inflight)
        self.client.on_publish = lambda *_: self.window.release()
        self.sent: list[tuple[str, mqtt.MQTTMessageInfo]] = []
        self.stop = threading.Event()
        connect(self.client, port)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        seq = 0
        while not self.stop.is_set():
            if self.window.acquire(timeout=0.05):
                msg_id = f"{self.name}-{seq}"
                seq += 1
                self.sent.append((msg_id, self.client.publish(TOPIC, msg_id.encode(), qos=self.qos)))

    def finish(self) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join(10)
        # The broker is dead: no DISCONNECT to send, and paho must not retry.
        self.client.disconnect()
        self.client.loop_stop()

    def acknowledged(self) -> list[str]:
        # paho marks a message published right after on_publish fires for its
        # PUBACK/PUBCOMP. Keeping the info objects avoids mapping packet ids
        # (which wrap, and which on_publish can report before publish() returns).
        # rc != 0: publish() was called after the connection was lost, so the
        # message never went out.
        return [msg_id for msg_id, info in self.sent if info.rc == 0 and info.is_published()]


@dataclasses.dataclass
class Drain:
    session_present: bool
    ids: list[str]
    seconds: float


def drain(port: int, quiet: float, limit: float) -> Drain:
    """Reconnects the persistent subscriber and takes messages until none came for `quiet` s."""
    ids = []
    last = [time.monotonic()]

    def on_message(_c, _u, m):
        ids.append(m.payload.decode())
        last[0] = time.monotonic()

    c = client(SUBSCRIBER, clean=False)
    c.on_message = on_message
    start = time.monotonic()
    session_present = connect(c, port)
    last[0] = time.monotonic()
    while time.monotonic() - last[0] < quiet and time.monotonic() - start < limit:
        time.sleep(0.05)
    disconnect(c)
    return Drain(session_present, list(ids), time.monotonic() - start)


@dataclasses.dataclass
class Cycle:
    number: int
    killed_after: float
    published: int
    acknowledged: int
    drain: Drain
    missing: list[str]         # acknowledged in this cycle and not received (yet)
    duplicates: list[str]      # ids received more than once so far, new in this cycle

    def line(self, qos: int) -> str:
        d = self.drain
        again = "duplicated" if qos == 2 else "redelivered"
        session = "" if d.session_present else ", SESSION LOST (session present = 0)"
        return (f"cycle {self.number}: killed after {self.killed_after:.2f} s, {self.published} published, "
                f"{self.acknowledged} acknowledged, {len(d.ids)} received in {d.seconds:.1f} s, "
                f"{len(self.duplicates)} {again}, {len(self.missing)} lost{session}")


class CrashRun:
    """Cycles of load, kill -9, restart and drain on one data directory.

    in_memory runs the broker without storage: it must lose messages, which
    shows the check can fail."""

    def __init__(self, wharf: str, workdir: pathlib.Path, qos=1, publishers=4, inflight=50,
                 kill_window=(0.3, 2.0), quiet=2.0, drain_limit=60.0, in_memory=False, seed=None, group=False):
        self.wharf, self.workdir, self.qos = wharf, pathlib.Path(workdir), qos
        self.publishers, self.inflight, self.kill_window = publishers, inflight, kill_window
        self.quiet, self.drain_limit = quiet, drain_limit
        self.random = random.Random(seed)
        self.data_dir = self.workdir / "data"
        self.storage_args = ["--data-dir", str(self.data_dir), "--fsync", "always"]
        if in_memory:
            self.storage_args = ["--in-memory"] if supports_storage(wharf) else []
        self.starts = 0
        self.acknowledged: set[str] = set()
        self.received = collections.Counter()
        self.cycles: list[Cycle] = []
        self.broker = self._start()
        try:
            subscribe_persistent(self.broker.port, qos, GROUP_FILTER if group else TOPIC)
        except BaseException:
            self.broker.kill()
            raise

    def _start(self) -> Wharf:
        self.starts += 1
        return Wharf(self.wharf, self.workdir, self.storage_args, f"wharf-{self.starts}")

    def run_cycle(self) -> Cycle:
        n = len(self.cycles) + 1
        killed_after = self.random.uniform(*self.kill_window)
        pubs = []
        try:
            for i in range(self.publishers):
                pubs.append(Publisher(self.broker.port, f"c{n}p{i}", self.qos, self.inflight))
            for p in pubs:
                p.thread.start()
            time.sleep(killed_after)
            self.broker.kill()
        finally:
            for p in pubs:
                p.finish()
        acked = {i for p in pubs for i in p.acknowledged()}
        self.acknowledged |= acked
        self.broker = self._start()
        d = drain(self.broker.port, self.quiet, self.drain_limit)
        before = {i for i, k in self.received.items() if k > 1}
        self.received.update(d.ids)
        duplicates = sorted({i for i, k in self.received.items() if k > 1} - before)
        cycle = Cycle(n, killed_after, sum(len(p.sent) for p in pubs), len(acked), d,
                      sorted(acked - self.received.keys()), duplicates)
        self.cycles.append(cycle)
        return cycle

    def lost(self) -> list[str]:
        return sorted(self.acknowledged - self.received.keys(), key=_id_order)

    def duplicated(self) -> list[str]:
        return sorted((i for i, k in self.received.items() if k > 1), key=_id_order)

    def close(self) -> int | None:
        """Stops the broker gracefully; returns its exit code (None if it had to be killed)."""
        try:
            return self.broker.terminate()
        except subprocess.TimeoutExpired:
            return None

    def logs(self, last=2, chars=4000) -> str:
        """The tail of the last broker logs (the killed one and its successor)."""
        out = []
        for k in range(max(1, self.starts - last + 1), self.starts + 1):
            text = (self.workdir / f"wharf-{k}.log").read_text(errors="replace")
            out.append(f"--- wharf-{k}.log (last {chars} chars)\n{text[-chars:]}")
        return "\n".join(out)


def _id_order(msg_id: str):
    """c3p1-42 sorts by cycle, publisher, then sequence number."""
    return tuple(int(x) for x in re.findall(r"\d+", msg_id))


def summarize(ids: list[str], limit=20) -> str:
    """A few ids and, per publisher, the range they fall in: enough to locate a loss in the logs."""
    by_pub = collections.defaultdict(list)
    for i in ids:
        pub, seq = i.rsplit("-", 1)
        by_pub[pub].append(int(seq))
    ranges = ", ".join(f"{p}: {len(s)} in {min(s)}..{max(s)}" for p, s in sorted(by_pub.items(), key=lambda kv: _id_order(kv[0])))
    more = f" (+{len(ids) - limit} more)" if len(ids) > limit else ""
    return f"{' '.join(ids[:limit])}{more}\n  per publisher: {ranges}"
