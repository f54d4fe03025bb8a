"""Wharf's NATS/JetStream client checked by an independent one (nats-py): what
a Wharf node writes to JetStream reads back the same through nats-py, and
what nats-py writes in Wharf's formats is understood by Wharf. So Wharf's
client is never tested only against itself.

One Wharf node in cluster mode on a three-server cluster (fixtures from
natscluster.py and conftest.py)."""
import asyncio
import base64
import json
import struct
import subprocess
import time
import urllib.request

import pytest

nats = pytest.importorskip("nats")

from conftest import start_broker  # noqa: E402
from natscluster import available, nats_cluster  # noqa: E402,F401

pytestmark = pytest.mark.skipif(not available(), reason="nats-server is not installed")


def key_for(text: str) -> str:
    """ClusterNames.key(for:): base64url without padding, for short texts."""
    return "t." + base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=3) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_ready(node, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        status, body = get(f"http://127.0.0.1:{node.metrics_port}/readyz")
        if status == 200:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"node not ready: {body}\n{node.log()[-3000:]}")
        time.sleep(0.1)


def cluster_config(name: str, urls: list[str]) -> str:
    return f'[cluster]\nname = "{name}"\nnats = {json.dumps(urls)}\nreplicas = 3\nlease = 3\n'


def envelope(topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> bytes:
    """ClusterEnvelope version 1, written by hand from its documented layout."""
    flags = qos | (4 if retain else 0)
    now = time.time_ns()
    return (struct.pack(">BBQQH", 1, flags, now, 0, len(topic.encode())) + topic.encode()
            + struct.pack(">I", 0) + payload)


async def with_js(urls, body):
    nc = await nats.connect(servers=urls, connect_timeout=5)
    try:
        return await body(nc, nc.jetstream())
    finally:
        await nc.close()


def test_what_wharf_writes_reads_back_through_nats_py(nats_cluster, tmp_path):
    urls = nats_cluster.urls
    node = start_broker(tmp_path, cluster_config("oracle-a", urls), extra_args=["--in-memory"])
    try:
        wait_ready(node)
        # A retained message and a subscription, through real MQTT clients.
        subprocess.run(["mosquitto_pub", "-p", str(node.port), "-t", "oracle/r", "-m", "kept", "-r", "-q", "1"],
                       check=True, timeout=10)
        sub = subprocess.Popen(["mosquitto_sub", "-p", str(node.port), "-t", "oracle/+/x", "-q", "1", "-W", "20"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            async def check(nc, js):
                # The lease: JSON in wharf_nodes under the node's name.
                nodes = await js.key_value("wharf_nodes")
                lease = json.loads((await nodes.get("oracle-a")).value)
                assert lease["metricsURL"] == f"http://127.0.0.1:{node.metrics_port}"
                # The route: QoS byte then the filter, under <node>.<filter key>.
                routes = await js.key_value("wharf_routes")
                deadline = time.monotonic() + 10
                while True:
                    try:
                        entry = await routes.get("oracle-a." + key_for("oracle/+/x"))
                        break
                    except nats.js.errors.KeyNotFoundError:
                        assert time.monotonic() < deadline, "the subscription's route never appeared"
                        await asyncio.sleep(0.1)
                assert entry.value[0] == 1 and entry.value[1:] == b"oracle/+/x"
                # The retained message: an envelope with its topic and payload.
                retained = await js.key_value("wharf_retained")
                value = (await retained.get(key_for("oracle/r"))).value
                version, flags = value[0], value[1]
                assert version == 1 and flags & 3 == 1 and flags & 4
                assert value.endswith(b"kept") and b"oracle/r" in value
                # The streams and buckets are replicated as configured.
                info = await js.stream_info("WHARF_N")
                assert info.config.num_replicas == 3 and info.config.subjects == ["wn.q.>"]
            asyncio.run(with_js(urls, check))
        finally:
            sub.kill()
    finally:
        node.stop()


def test_what_nats_py_writes_wharf_understands(nats_cluster, tmp_path):
    urls = nats_cluster.urls
    node = start_broker(tmp_path, cluster_config("oracle-b", urls), extra_args=["--in-memory"])
    sub = None
    try:
        wait_ready(node)
        sub = subprocess.Popen(["mosquitto_sub", "-p", str(node.port), "-t", "from-nats/#", "-q", "1", "-v", "-C", "2",
                                "-W", "20"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)

        async def send(nc, js):
            # As another node would: QoS 0 over core NATS, QoS 1 through WHARF_N.
            await nc.publish("wn.c.oracle-b", envelope("from-nats/core", b"zero"))
            ack = await js.publish("wn.q.oracle-b", envelope("from-nats/js", b"one", qos=1))
            assert ack.stream == "WHARF_N"
            # A retained message written straight into the bucket reaches a new subscriber.
            retained = await js.key_value("wharf_retained")
            await retained.put(key_for("from-nats/retained"), envelope("from-nats/retained", b"kept", qos=1, retain=True))
        asyncio.run(with_js(urls, send))
        out, _ = sub.communicate(timeout=25)
        assert sorted(out.split("\n")[:2]) == ["from-nats/core zero", "from-nats/js one"]
        deadline = time.monotonic() + 10
        while True:
            got = subprocess.run(["mosquitto_sub", "-p", str(node.port), "-t", "from-nats/retained", "-C", "1", "-W", "2"],
                                 capture_output=True, text=True)
            if got.stdout.strip() == "kept":
                break
            assert time.monotonic() < deadline, f"retained message from nats-py never seen: {got.stdout!r}"
    finally:
        if sub and sub.poll() is None:
            sub.kill()
        node.stop()
