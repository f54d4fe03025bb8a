"""A NATS (JetStream) cluster of real nats-server processes on loopback, for tests.

    cluster = NatsCluster(tmp_path, servers=3)   # started, healthy, meta leader elected
    cluster.urls                                 # ["nats://127.0.0.1:<port>", ...]
    cluster.kill(0); cluster.restart(0)          # same ports, store dir and config
    cluster.close()

As pytest fixtures (register this module as a plugin: `pytest_plugins = ["natscluster"]`
in conftest.py): `nats_cluster` (one cluster per test) and `nats_cluster_shared` (one
per module, for tests that never kill or stop servers).

Every server listens on 127.0.0.1 only, on free ports; its config, store dir and log
(stderr, appended across restarts) live in the cluster's directory. The servers get
SIGKILL when the process that started them dies (PR_SET_PDEATHSIG), so a killed
pytest leaves no nats-server behind; they are spawned from one long-lived
thread, since the death signal follows the thread that spawned them.
"""
from __future__ import annotations

import concurrent.futures
import ctypes
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import pytest

NATS_SERVER = os.environ.get("NATS_SERVER_BIN") or shutil.which("nats-server") or "/usr/sbin/nats-server"

# Formation takes well under a second here; 30 s is for a machine under load.
START_TIMEOUT = 30.0

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)
_HANDED_OUT: set[int] = set()
# The death signal follows the *thread* that forked the child (checked: a server
# started from a thread that then ends is killed), so every server is started
# from this one thread, which lives as long as the process.
_SPAWNER = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="natscluster-spawn")


def available() -> bool:
    return os.access(NATS_SERVER, os.X_OK)


def free_port() -> int:
    """A port free on 127.0.0.1 now, never one this process handed out before.

    Uses the e2e conftest's `free_port` when it is loaded, so Wharf's and the
    cluster's ports come from one set."""
    conftest = sys.modules.get("conftest")
    shared = getattr(conftest, "free_port", None)
    if shared is not None and shared is not free_port:
        return shared()
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def _die_with_parent(parent: int):
    def preexec():
        # Runs in the child between fork and exec. The death signal survives
        # the exec; if the parent died before the prctl, exit now.
        if _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0 or os.getppid() != parent:
            os._exit(1)
    return preexec


class ClusterError(RuntimeError):
    pass


class _PortTaken(ClusterError):
    pass


class Server:
    def __init__(self, index: int, name: str, directory: pathlib.Path, client_port: int, route_port: int,
                 http_port: int):
        self.index = index
        self.name = name
        self.client_port = client_port
        self.route_port = route_port
        self.http_port = http_port
        self.config_path = directory / f"{name}.conf"
        self.store_dir = directory / f"{name}-store"
        self.log_path = directory / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.client_port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def _current(replica: dict) -> bool:
    """A replica a leader reports caught up: current, online, no lag."""
    return bool(replica.get("current")) and not replica.get("offline") and not replica.get("lag")


class NatsCluster:
    """`servers` nats-servers in one cluster under `directory` (a fresh temp dir when None)."""

    def __init__(self, directory: pathlib.Path | str | None = None, servers: int = 3, jetstream: bool = True,
                 cluster_name: str = "wharf-test", start: bool = True, timeout: float = START_TIMEOUT):
        if not available():
            raise ClusterError(f"nats-server not found ({NATS_SERVER}); apt-get install nats-server")
        if servers < 1:
            raise ValueError("servers must be at least 1")
        self._owns_directory = directory is None
        self.directory = pathlib.Path(tempfile.mkdtemp(prefix="nats-cluster-") if directory is None else directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.jetstream = jetstream
        self.cluster_name = cluster_name
        self.servers: list[Server] = []
        self._count = servers
        if start:
            try:
                self._start(timeout)
            except BaseException:
                self.close()
                raise

    # --- what tests use -------------------------------------------------

    @property
    def urls(self) -> list[str]:
        return [s.url for s in self.servers]

    @property
    def ports(self) -> list[int]:
        return [s.client_port for s in self.servers]

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.servers]

    def monitoring_url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.servers[i].http_port}"

    def pid(self, i: int) -> int | None:
        s = self.servers[i]
        return s.proc.pid if s.running else None

    def log(self, i: int) -> str:
        return self.servers[i].log_path.read_text(errors="replace")

    def kill(self, i: int, timeout: float = 10.0) -> None:
        """SIGKILL server i and wait until the process is gone."""
        self._signal(i, signal.SIGKILL, timeout)

    def stop(self, i: int, timeout: float = 10.0) -> None:
        """SIGTERM server i (a clean shutdown) and wait; SIGKILL if it takes longer than `timeout`."""
        self._signal(i, signal.SIGTERM, timeout)

    def restart(self, i: int, timeout: float = START_TIMEOUT) -> None:
        """Start server i again (same ports, store dir and config) and wait until it is healthy
        and, when a quorum of servers runs, agrees with the others on a meta leader."""
        s = self.servers[i]
        if s.running:
            raise ClusterError(f"{s.name} is still running; kill or stop it first")
        self._spawn(s)
        deadline = time.monotonic() + timeout
        self.wait_healthy(i, deadline - time.monotonic())
        if self.jetstream and self._count > 1 and self._running_count() * 2 > self._count:
            self.wait_for_meta_leader(deadline - time.monotonic())

    def wait_healthy(self, i: int, timeout: float = START_TIMEOUT) -> None:
        """Until server i answers /healthz?js-enabled-only=true with 200 and has a route to every
        other running server."""
        s = self.servers[i]
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while True:
            if not s.running:
                raise self._error(s, f"{s.name} exited with {s.proc.returncode if s.proc else None}")
            status, body = self._get(i, "/healthz?js-enabled-only=true" if self.jetstream else "/healthz")
            if status == 200:
                others = sum(1 for o in self.servers if o is not s and o.running)
                routes = self._json(i, "/routez")
                have = routes.get("num_routes", 0) if routes else 0
                if have >= others:
                    return
                last = f"{have} of {others} routes"
            else:
                last = f"/healthz: {status} {body.strip()[:200]}"
            if time.monotonic() >= deadline:
                raise self._error(s, f"{s.name} not healthy after {timeout:.1f} s ({last})")
            time.sleep(0.05)

    def wait_streams_current(self, timeout: float = 30.0) -> bool:
        """Until every stream and every replicated consumer has caught up on every
        server: a server restarted a moment ago is still catching up, and killing
        another one then takes a stream's quorum as surely as killing two at once.
        False if `timeout` passed first."""
        deadline = time.monotonic() + timeout
        while not self._streams_current():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)
        return True

    def _jsz_streams(self) -> dict[str, dict[str, dict]]:
        """Each running server's own view of each stream: {server: {stream: detail}}."""
        views: dict[str, dict[str, dict]] = {}
        for s in self.servers:
            jsz = self._json(s.index, "/jsz?accounts=true&streams=true&consumers=true") or {}
            views[s.name] = {stream["name"]: stream for account in jsz.get("account_details") or []
                             for stream in account.get("stream_detail") or []}
        return views

    def _streams_current(self) -> bool:
        """Three things, each of which once let a chaos run's next kill land on a
        server that was not caught up: every stream's leader reports each replica
        current (online, no lag); every replicated consumer's leader does too (a
        lagging consumer replica that took over counted 3,703 stored group messages
        as delivered, and nats-server never handed them out again); and each
        server's own copy of a stream holds at least what the leader held a moment
        before (a leader reported a server current 2 s after its restart while its
        copy held half the stream)."""
        if not all(s.running for s in self.servers):
            return False
        before = self._jsz_streams()
        after = self._jsz_streams()
        names = {name for view in before.values() for name in view}
        if not names:
            return False
        for name in names:
            leaders = [server for server, view in before.items()
                       if ((view.get(name) or {}).get("cluster") or {}).get("leader") == server]
            if len(leaders) != 1:
                return False
            leader = before[leaders[0]][name]
            replicas = (leader.get("cluster") or {}).get("replicas") or []
            wanted = (leader.get("config") or {}).get("num_replicas", len(self.servers)) - 1
            if len(replicas) < wanted or not all(_current(r) for r in replicas):
                return False
            last = (leader.get("state") or {}).get("last_seq", 0)
            for r in replicas:
                copy = (after.get(r["name"]) or {}).get(name)
                if copy is None or (copy.get("state") or {}).get("last_seq", 0) < last:
                    return False
            # Only a consumer's leader knows how its replicas stand.
            consumers: dict[str, bool] = {}
            for server, view in before.items():
                for consumer in (view.get(name) or {}).get("consumer_detail") or []:
                    cluster = consumer.get("cluster") or {}
                    if not cluster.get("replicas"):
                        continue  # a reader's R1 consumer
                    led = cluster.get("leader") == server
                    consumers[consumer["name"]] = consumers.get(consumer["name"], False) or (
                        led and all(_current(r) for r in cluster["replicas"]))
            if not all(consumers.values()):
                return False
        return True

    def meta_leader(self) -> str | None:
        """The meta leader every running server agrees on, if there is one and it is running."""
        running = [s for s in self.servers if s.running]
        leaders = set()
        for s in running:
            jsz = self._json(s.index, "/jsz")
            leaders.add((jsz or {}).get("meta_cluster", {}).get("leader") or None)
        if len(leaders) == 1:
            leader = leaders.pop()
            if leader in {s.name for s in running}:
                return leader
        return None

    def wait_for_meta_leader(self, timeout: float = START_TIMEOUT) -> str:
        """Until every running server names the same running server as JetStream meta leader."""
        if not self.jetstream:
            raise ClusterError("JetStream is disabled in this cluster: there is no meta leader")
        deadline = time.monotonic() + timeout
        while True:
            if self._count == 1:
                return self.servers[0].name
            leader = self.meta_leader()
            if leader is not None:
                return leader
            if time.monotonic() >= deadline:
                seen = {s.name: ((self._json(s.index, "/jsz") or {}).get("meta_cluster", {}).get("leader"))
                        for s in self.servers if s.running}
                raise ClusterError(f"no meta leader after {timeout:.1f} s (leader seen by each running server: "
                                   f"{seen})\n" + "\n".join(f"--- {s.name} log tail:\n{s.log_tail(15)}"
                                                           for s in self.servers))
            time.sleep(0.05)

    def close(self) -> None:
        """Kill every server and remove the directory if this cluster made it."""
        for s in self.servers:
            if s.proc is not None and s.proc.poll() is None:
                s.proc.kill()
        for s in self.servers:
            if s.proc is not None:
                try:
                    s.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
        if self._owns_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> NatsCluster:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- machinery --------------------------------------------------------

    def _start(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for attempt in range(3):
            # A probed free port can be taken by someone else before the server
            # binds it: that is the machine's race, so try fresh ports.
            self._layout()
            try:
                for s in self.servers:
                    self._spawn(s)
                for s in self.servers:
                    self.wait_healthy(s.index, deadline - time.monotonic())
                if self.jetstream:
                    self.wait_for_meta_leader(deadline - time.monotonic())
                return
            except _PortTaken:
                for s in self.servers:
                    if s.running:
                        s.proc.kill()
                        s.proc.wait()
                if attempt == 2:
                    raise

    def _layout(self) -> None:
        self.servers = []
        for i in range(self._count):
            name = f"n{i}"  # the name carries the index every call takes
            self.servers.append(Server(i, name, self.directory, free_port(), free_port(), free_port()))
        for s in self.servers:
            s.config_path.write_text(self._config(s))

    def _config(self, s: Server) -> str:
        lines = [
            f'server_name: "{s.name}"',
            f'listen: "127.0.0.1:{s.client_port}"',
            f'http: "127.0.0.1:{s.http_port}"',
        ]
        if self.jetstream:
            lines.append(f'jetstream {{ store_dir: "{s.store_dir}" }}')
        if self._count > 1:
            routes = ", ".join(f'"nats://127.0.0.1:{o.route_port}"' for o in self.servers if o is not s)
            lines.append(f'cluster {{ name: "{self.cluster_name}", listen: "127.0.0.1:{s.route_port}", '
                         f'routes: [{routes}] }}')
        return "\n".join(lines) + "\n"

    def _spawn(self, s: Server) -> None:
        with s.log_path.open("a") as log:
            log.write(f"=== fixture: starting {s.name} at {time.strftime('%H:%M:%S')}\n")
            log.flush()
            s.proc = _SPAWNER.submit(subprocess.Popen, [NATS_SERVER, "-c", str(s.config_path)],
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=self.directory,
                                     preexec_fn=_die_with_parent(os.getpid())).result()

    def _signal(self, i: int, sig: int, timeout: float) -> None:
        s = self.servers[i]
        if s.proc is None or s.proc.poll() is not None:
            return
        s.proc.send_signal(sig)
        try:
            s.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            s.proc.kill()
            s.proc.wait(timeout=10)

    def _running_count(self) -> int:
        return sum(1 for s in self.servers if s.running)

    def _get(self, i: int, path: str) -> tuple[int | None, str]:
        try:
            with urllib.request.urlopen(self.monitoring_url(i) + path, timeout=2) as r:
                return r.status, r.read().decode(errors="replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(errors="replace")
        except (OSError, ValueError) as e:
            return None, str(e)

    def _json(self, i: int, path: str) -> dict | None:
        status, body = self._get(i, path)
        if status != 200:
            return None
        try:
            return json.loads(body)
        except ValueError:
            return None

    def _error(self, s: Server, what: str) -> ClusterError:
        tail = s.log_tail()
        error = _PortTaken if "address already in use" in tail else ClusterError
        return error(f"{what}; config {s.config_path}\n--- {s.name} log tail:\n{tail}")


@pytest.fixture
def nats_cluster(tmp_path):
    """A fresh 3-server JetStream cluster for one test; killed and removed afterwards."""
    if not available():
        pytest.skip("nats-server is not installed")
    cluster = NatsCluster(tmp_path / "nats")
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(scope="module")
def nats_cluster_shared(tmp_path_factory):
    """One 3-server JetStream cluster for every test of a module that asks for it.
    Tests using it must not kill, stop or restart servers."""
    if not available():
        pytest.skip("nats-server is not installed")
    cluster = NatsCluster(tmp_path_factory.mktemp("nats-shared"))
    try:
        yield cluster
    finally:
        cluster.close()
