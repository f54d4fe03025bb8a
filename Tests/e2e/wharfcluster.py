"""Wharf cluster-mode nodes on a NATS JetStream cluster (natscluster.py), for the e2e tests.

    cluster = WharfCluster(nats_cluster, tmp_path, names=("a", "b"))  # started, ready, formed
    a, b = cluster.nodes
    cluster.readyz(a)            # (200, "ready") or (503, "not ready: ...")
    cluster.snapshot(a)          # /api/v1/snapshot as a dict; cluster.cluster(a) is its "cluster" object
    cluster.wait_route(a, n)     # until a knows at least n routes of other nodes
    cluster.kill(b); cluster.restart(b)   # SIGKILL; start again, same name, config and ports
    cluster.close()              # SIGTERM every node, check each exits 0

As pytest fixtures: `wharf_cluster_factory` (nodes on the per-test `nats_cluster`)
and `wharf_cluster_shared` (three nodes a, b, c on the per-module
`nats_cluster_shared`, for tests that kill nothing).

A node is `wharf serve` started by conftest.start_broker (free loopback ports,
its own data dir, log on stderr in a file) with a `[cluster]` config. Every
wait here is bounded and fails with what was last seen and the node's log tail.

The route index is replicated through a KV watch: a subscription made on B is
routable from A a few milliseconds after B's SUBACK. Tests wait for it with
`wait_route` (A's `cluster.remoteRoutes` reaching a count), never with a sleep.
"""
from __future__ import annotations

import json
import os
import pathlib
import queue
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import WHARF, Broker, PortTaken, start_broker
from mqttclients import paho

# Node start: listener bound, then NATS, streams, buckets, route index and
# retained loaded. Well under a second on loopback with fresh servers.
READY_TIMEOUT = 30.0
LEASE = 3  # seconds; the tests' lease (the default is 10)


def cluster_config(name: str, urls: list[str], lease: int = LEASE, replicas: int = 3, extra: str = "") -> str:
    return (f'[cluster]\nname = "{name}"\nnats = {json.dumps(urls)}\nreplicas = {replicas}\nlease = {lease}\n'
            + extra)


def http_get(url: str, timeout: float = 3.0) -> tuple[int | None, str]:
    """(status, body); status None when nothing answered (body: the error)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except (OSError, ValueError) as e:
        return None, f"{type(e).__name__}: {e}"


class Node:
    """One `wharf serve` in cluster mode. `port` (MQTT) and `metrics_port` stay the
    same across restart() whenever the ports can be bound again."""

    def __init__(self, name: str, config: str, tmp_path: pathlib.Path, extra_args=()):
        self.name = name
        self.config = config
        self.tmp_path = tmp_path
        self.extra_args = tuple(extra_args)
        self.broker: Broker | None = None
        self.starts = 0
        self.exit_codes: list[int] = []

    # --- what tests use -------------------------------------------------

    @property
    def port(self) -> int:
        return self.broker.port

    @property
    def metrics_port(self) -> int:
        return self.broker.metrics_port

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}"

    @property
    def running(self) -> bool:
        return self.broker is not None and self.broker.proc.poll() is None

    @property
    def pid(self) -> int:
        return self.broker.proc.pid

    def log(self) -> str:
        return self.broker.log() if self.broker else "(never started)"

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def thread_stacks(self, limit: int = 8000) -> str:
        """The running process's threads that are not idle in their event loop's
        wait, as gdb sees them: a node that stops answering shows where it
        waits. Empty when gdb is missing or fails."""
        if not self.running or shutil.which("gdb") is None:
            return ""
        try:
            out = subprocess.run(["gdb", "-nx", "-batch", "-p", str(self.pid), "-ex", "thread apply all bt 14"],
                                 capture_output=True, text=True, timeout=60).stdout
        except (OSError, subprocess.SubprocessError):
            return ""
        threads = [t for t in out.split("\nThread ")[1:] if "epoll_wait" not in t]
        return "\n".join("Thread " + t.strip() for t in threads)[:limit]

    def __repr__(self) -> str:
        if self.broker is None:
            return f"<node {self.name} (not started)>"
        return f"<node {self.name} mqtt {self.port} metrics {self.metrics_port}>"

    # --- machinery ------------------------------------------------------

    def start(self) -> None:
        """First start: conftest.start_broker (free ports, data dir, log file)."""
        self.broker = start_broker(self.tmp_path, self.config, self.extra_args)
        self.starts = 1

    def restart(self) -> None:
        """Start again after a kill or stop: same name, config, data dir, log file and,
        if they can be bound again, ports; fresh ports otherwise."""
        assert self.broker is not None, "restart() of a node never started"
        assert not self.running, f"{self.name} still runs"
        old = self.broker
        data_dir = self.tmp_path / f"wharf-data-{old.port}"
        config_path = self.tmp_path / f"wharf-{old.port}.toml"
        with old.stderr_path.open("a") as log:
            log.write(f"\n=== wharfcluster: restarting {self.name} at {time.strftime('%H:%M:%S')}\n")
        deadline = time.monotonic() + 10
        while True:
            try:
                self.broker = self._spawn(old.port, old.metrics_port, data_dir, config_path, old.stderr_path)
                break
            except PortTaken:
                # The old sockets may linger a moment after a SIGKILL; then fall back to new ports.
                if time.monotonic() > deadline:
                    self.broker = start_broker(self.tmp_path, self.config, self.extra_args)
                    break
                time.sleep(0.2)
        self.starts += 1

    def _spawn(self, port: int, metrics_port: int, data_dir: pathlib.Path, config_path: pathlib.Path,
               log_path: pathlib.Path) -> Broker:
        # The same command line as conftest._start_broker_once, with the ports given.
        args = [WHARF, "serve", "--bind", "127.0.0.1", "--port", str(port), "--metrics-port", str(metrics_port),
                "--log-level", os.environ.get("WHARF_E2E_LOG_LEVEL", "debug"), *self.extra_args]
        if "--data-dir" not in self.extra_args and "--in-memory" not in self.extra_args:
            args += ["--data-dir", str(data_dir)]
        args += ["--config", str(config_path)]
        start = log_path.stat().st_size if log_path.exists() else 0
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log_path.open("a"), text=True)
        line = proc.stdout.readline()
        if "listening on" not in line:
            proc.kill()
            proc.wait(timeout=5)
            with log_path.open(errors="replace") as f:
                f.seek(start)
                log = f.read()
            error = PortTaken if "Address already in use" in log else RuntimeError
            raise error(f"wharf {self.name} did not restart: {line!r}\n{log[-3000:]}")
        return Broker(proc, port, metrics_port, log_path)


class WharfCluster:
    """`names` Wharf nodes in cluster mode on one NatsCluster; started, each ready and
    listing every node live, unless start=False."""

    def __init__(self, nats, tmp_path: pathlib.Path, names=("a", "b"), lease: int = LEASE, extra_args=(),
                 extra_config: str = "", start: bool = True, timeout: float = READY_TIMEOUT):
        self.nats = nats
        self.tmp_path = tmp_path
        self.lease = lease
        self.nodes = [Node(n, cluster_config(n, nats.urls, lease, extra=extra_config), tmp_path, extra_args)
                      for n in names]
        if start:
            try:
                for n in self.nodes:
                    n.start()
                self.wait_formed(timeout=timeout)
            except BaseException:
                self.close(check=False)
                raise

    def __getitem__(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        return [n.name for n in self.nodes]

    # --- reading a node -------------------------------------------------

    @staticmethod
    def readyz(node: Node) -> tuple[int | None, str]:
        return http_get(node.metrics_url + "/readyz")

    @staticmethod
    def snapshot(node: Node) -> dict:
        status, body = http_get(node.metrics_url + "/api/v1/snapshot", timeout=5)
        if status != 200:
            raise AssertionError(f"{node.name}: /api/v1/snapshot answered {status}: {body[:300]}\n"
                                 f"--- {node.name} log tail:\n{node.log_tail()}")
        return json.loads(body)

    def cluster(self, node: Node) -> dict:
        """The snapshot's `cluster` object (it must be there in cluster mode)."""
        snap = self.snapshot(node)
        assert "cluster" in snap and snap["cluster"] is not None, \
            f"{node.name}: the snapshot has no cluster object; keys {sorted(snap)}"
        return snap["cluster"]

    def live_nodes(self, node: Node) -> list[str]:
        return sorted(n["name"] for n in self.cluster(node)["liveNodes"])

    def remote_routes(self, node: Node) -> int:
        return self.cluster(node)["remoteRoutes"]

    def session_routes(self, node: Node) -> int:
        """Persistent sessions' subscriptions `node` routes to their queues."""
        return self.cluster(node).get("sessionRoutes") or 0

    def group_routes(self, node: Node) -> int:
        """Consumer groups (with members on some live node or in a session record) `node` routes to their queues."""
        return self.cluster(node).get("groupRoutes") or 0

    def routes(self) -> dict[str, int]:
        """remoteRoutes of every running node, by name."""
        return {n.name: self.remote_routes(n) for n in self.nodes if n.running}

    # --- bounded waits --------------------------------------------------

    def _fail(self, what: str, *nodes: Node) -> AssertionError:
        tails = "\n".join(f"--- {n.name} log tail:\n{n.log_tail()}" for n in (nodes or self.nodes))
        return AssertionError(f"{what}\n{tails}")

    def _poll(self, check, timeout: float, what, *nodes: Node, interval: float = 0.05):
        """Calls check() until it returns something other than None or False; returns that.
        On timeout fails with what(last) (the last value seen, or the last exception)."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            for n in nodes:
                if n.broker is not None and not n.running:
                    raise self._fail(f"{n.name} exited with {n.broker.proc.returncode} while waiting: "
                                     f"{what(last)}", n)
            try:
                got = check()
                if got is not None and got is not False:
                    return got
                last = got
            except (OSError, ValueError, KeyError, AssertionError) as e:
                last = f"{type(e).__name__}: {str(e)[:300]}"
            if time.monotonic() >= deadline:
                raise self._fail(f"after {timeout:.1f} s: {what(last)}", *nodes)
            time.sleep(interval)

    def wait_ready(self, node: Node, timeout: float = READY_TIMEOUT) -> None:
        """Until /readyz answers 200."""
        seen = {}

        def check():
            seen["r"] = self.readyz(node)
            return seen["r"][0] == 200
        try:
            self._poll(check, timeout, lambda _: f"{node.name} not ready: /readyz {seen.get('r')}", node)
        except AssertionError as e:
            raise AssertionError(f"{e}\n--- {node.name} busy threads:\n{node.thread_stacks()}") from None

    def wait_not_ready(self, node: Node, timeout: float) -> str:
        """Until /readyz answers 503; returns its body."""
        seen = {}

        def check():
            seen["r"] = status, body = self.readyz(node)
            return body if status == 503 else None
        return self._poll(check, timeout, lambda _: f"{node.name} still not 503: /readyz {seen.get('r')}", node)

    def wait_live_nodes(self, node: Node, names, timeout: float = READY_TIMEOUT) -> None:
        """Until `node`'s snapshot lists exactly `names` as live nodes."""
        want = sorted(names)
        self._poll(lambda: self.live_nodes(node) == want, timeout,
                   lambda last: f"{node.name} lists live nodes {self._safe(self.live_nodes, node)}, "
                                f"want {want} (last: {last})", node)

    def wait_formed(self, nodes=None, timeout: float = READY_TIMEOUT) -> None:
        """Until every running node (or `nodes`) is ready and lists every running node live."""
        deadline = time.monotonic() + timeout
        running = [n.name for n in self.nodes if n.running]
        for n in nodes or [n for n in self.nodes if n.running]:
            self.wait_ready(n, max(0.1, deadline - time.monotonic()))
            self.wait_live_nodes(n, running, max(0.1, deadline - time.monotonic()))

    def wait_route(self, node: Node, count: int, timeout: float = 10.0) -> int:
        """Until `node` knows at least `count` routes of other nodes (cluster.remoteRoutes)."""
        return self._poll(lambda: (lambda r: r if r >= count else None)(self.remote_routes(node)), timeout,
                          lambda last: f"{node.name} knows {self._safe(self.remote_routes, node)} remote routes, "
                                       f"want >= {count} (last: {last})", node)

    def wait_session_routes(self, node: Node, count: int, timeout: float = 10.0) -> int:
        """Until `node` routes at least `count` persistent sessions' subscriptions (cluster.sessionRoutes)."""
        return self._poll(lambda: (lambda r: r if r >= count else None)(self.session_routes(node)), timeout,
                          lambda last: f"{node.name} routes {self._safe(self.session_routes, node)} session "
                                       f"subscriptions, want >= {count}", node)

    def wait_routes_at_most(self, node: Node, count: int, timeout: float = 10.0) -> int:
        """Until `node` knows at most `count` routes of other nodes (after unsubscribes)."""
        # A list, so that 0 routes counts as done for _poll.
        return self._poll(lambda: (lambda r: [r] if r <= count else None)(self.remote_routes(node)), timeout,
                          lambda last: f"{node.name} knows {self._safe(self.remote_routes, node)} remote routes, "
                                       f"want <= {count}", node)[0]

    def wait_routes(self, expected: dict[str, int], timeout: float = 10.0) -> None:
        """Until each named node knows exactly its expected number of remote routes."""
        self._poll(lambda: self.routes() == expected, timeout,
                   lambda last: f"remote routes {self._safe(self.routes)}, want {expected}",
                   *[self[n] for n in expected])

    @staticmethod
    def _safe(f, *args):
        try:
            return f(*args)
        except Exception as e:  # only for failure messages
            return f"({type(e).__name__}: {e})"

    # --- life and death -------------------------------------------------

    def kill(self, node: Node) -> None:
        """SIGKILL and wait until the process is gone."""
        if node.running:
            node.broker.proc.send_signal(signal.SIGKILL)
            node.exit_codes.append(node.broker.proc.wait(timeout=10))

    def stop(self, node: Node, timeout: float = 15.0) -> int:
        """SIGTERM (a clean shutdown); returns the exit code (SIGKILL after `timeout`: -9)."""
        if not node.running:
            return node.broker.proc.returncode if node.broker else 0
        node.broker.proc.send_signal(signal.SIGTERM)
        try:
            code = node.broker.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            node.broker.proc.kill()
            node.broker.proc.wait(timeout=10)
            code = f"still running {timeout} s after SIGTERM"
        node.exit_codes.append(code)
        return code

    def restart(self, node: Node, timeout: float = READY_TIMEOUT, wait: bool = True) -> None:
        """Start a killed or stopped node again (same name, config, data dir and ports when
        possible); with wait, until it is ready and every running node lists it live."""
        node.restart()
        if wait:
            self.wait_formed(timeout=timeout)

    def close(self, check: bool = True) -> None:
        """SIGTERM every running node; with check, fail unless each exited 0."""
        bad = []
        for n in self.nodes:
            if n.running:
                code = self.stop(n)
                if code != 0:
                    bad.append((n, code))
        if check and bad:
            raise self._fail("unclean shutdown: " + ", ".join(f"{n.name} exited with {c}" for n, c in bad),
                             *[n for n, _ in bad])


# --- fixtures -------------------------------------------------------------


@pytest.fixture
def wharf_cluster_factory(nats_cluster, tmp_path):
    """make(names=("a", "b"), lease=3, ...) -> a started, formed WharfCluster on this test's
    nats_cluster (reach the servers through `.nats`); every node is stopped afterwards and
    must exit 0."""
    made = []

    def make(names=("a", "b"), **kw) -> WharfCluster:
        c = WharfCluster(nats_cluster, tmp_path, names, **kw)
        made.append(c)
        return c

    yield make
    errors = []
    for c in made:
        try:
            c.close()
        except AssertionError as e:
            errors.append(str(e))
    assert not errors, "\n".join(errors)


@pytest.fixture(scope="module")
def wharf_cluster_shared(nats_cluster_shared, tmp_path_factory):
    """Three nodes a, b, c on the module's NATS cluster, $SYS every second. Its tests
    must not kill, stop or restart anything, and should leave no subscriptions behind."""
    c = WharfCluster(nats_cluster_shared, tmp_path_factory.mktemp("wharf-shared"), ("a", "b", "c"),
                     extra_args=("--sys-interval", "1"))
    yield c
    c.close()


def wait_until(what, check, timeout, node=None, interval=0.05):
    """check() until it returns something other than None/False/a str (a str says what was
    seen instead); AssertionError after `timeout` with the last value and the node's log tail."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            last = check()
        except (OSError, ValueError, KeyError, AssertionError) as e:
            last = f"({type(e).__name__}: {e})"
        if last is not None and last is not False and not isinstance(last, str):
            return last
        if time.monotonic() >= deadline:
            tail = f"\n--- {node.name} log tail:\n{node.log_tail()}" if node is not None else ""
            raise AssertionError(f"{what}: not within {timeout:.1f} s (last seen: {last!r}){tail}")
        time.sleep(interval)


def fresh_retained(node, topic, wait=1.0):
    """What a new subscriber on `node` gets for `topic` within `wait` s: (payload, retain flag) or None."""
    c = paho(node.port, clean=True)
    try:
        c.subscribe(topic, 1)
        try:
            m = c.get(timeout=wait)
        except queue.Empty:
            return None
        return m.payload, m.retain
    finally:
        c.disconnect()
