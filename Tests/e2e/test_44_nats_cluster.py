"""The NATS cluster fixture and the oracle client (nats-py) together: an R3 stream
survives killing its leader, and the killed server catches up after a restart.

On nats-server 2.9.10 here, a new stream leader takes about 6-7 s after SIGKILL
(the meta leader about 5 s); the bounds below leave room for a loaded machine.
"""
import asyncio
import json
import time
import urllib.request

import pytest

nats = pytest.importorskip("nats")
from nats.js.api import StreamConfig  # noqa: E402

# nats_cluster is imported so this module runs whether or not conftest.py
# registers natscluster as a plugin.
from natscluster import NatsCluster, available, nats_cluster  # noqa: E402,F401

pytestmark = pytest.mark.skipif(not available(), reason="nats-server is not installed")

STREAM = "T44"
SUBJECT = "t44.events"
FAILOVER_BOUND = 25.0  # seconds for publishing to work again after the kill
CATCH_UP_BOUND = 20.0  # seconds for the restarted replica to hold every message


def replica_state(cluster: NatsCluster, i: int) -> dict | None:
    """The stream's state as stored on server i itself (its /jsz), not as the leader reports it."""
    url = cluster.monitoring_url(i) + "/jsz?streams=true"
    with urllib.request.urlopen(url, timeout=2) as r:
        jsz = json.load(r)
    for account in jsz.get("account_details") or []:
        for stream in account.get("stream_detail") or []:
            if stream["name"] == STREAM:
                return stream["state"]
    return None


async def quiet(_error):
    # nats-py logs every failed reconnect to the killed server; the test checks outcomes instead.
    pass


async def publish_acked(js, seq: int, deadline: float) -> float:
    """Publishes message `seq` until it is acknowledged; returns when it was. The
    Nats-Msg-Id makes a retry of a publish that was stored but not acked a no-op."""
    while True:
        try:
            ack = await js.publish(SUBJECT, b"m%d" % seq, timeout=1.0, headers={"Nats-Msg-Id": f"m{seq}"})
            assert ack.stream == STREAM
            return time.monotonic()
        except (nats.errors.Error, asyncio.TimeoutError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def scenario(cluster: NatsCluster):
    nc = await nats.connect(servers=cluster.urls, connect_timeout=2, reconnect_time_wait=0.2,
                            max_reconnect_attempts=-1, error_cb=quiet)
    try:
        js = nc.jetstream(timeout=3)
        await js.add_stream(StreamConfig(name=STREAM, subjects=[SUBJECT], num_replicas=3))
        info = await js.stream_info(STREAM)
        assert info.config.num_replicas == 3
        assert len(info.cluster.replicas) == 2, info.cluster

        before = 20
        for seq in range(before):
            await publish_acked(js, seq, time.monotonic() + 10)

        victim = cluster.names.index(info.cluster.leader)
        killed_at = time.monotonic()
        cluster.kill(victim)
        assert cluster.pid(victim) is None

        # The first publish after the kill waits for a new stream leader.
        resumed_at = await publish_acked(js, before, killed_at + FAILOVER_BOUND)
        total = before + 20
        for seq in range(before + 1, total):
            await publish_acked(js, seq, time.monotonic() + 10)
        info = await js.stream_info(STREAM)
        assert info.cluster.leader != cluster.names[victim]
        assert info.state.messages == total
        print(f"publishing resumed {resumed_at - killed_at:.1f} s after killing the stream leader "
              f"{cluster.names[victim]}; new leader {info.cluster.leader}")

        cluster.restart(victim)
        deadline = time.monotonic() + CATCH_UP_BOUND
        while True:
            state = replica_state(cluster, victim)
            if state is not None and state["messages"] == total and state["last_seq"] == total:
                break
            assert time.monotonic() < deadline, f"{cluster.names[victim]} did not catch up: {state}"
            await asyncio.sleep(0.1)

        # Through a connection to the restarted server only: the stream answers
        # there too and holds every message once, in order.
        nc2 = await nats.connect(servers=[cluster.urls[victim]], connect_timeout=2, allow_reconnect=False,
                                 error_cb=quiet)
        try:
            js2 = nc2.jetstream(timeout=3)
            info = await js2.stream_info(STREAM)
            assert info.state.messages == total and info.state.last_seq == total
            for seq in range(1, total + 1):
                msg = await js2.get_msg(STREAM, seq)
                assert msg.data == b"m%d" % (seq - 1)
        finally:
            await nc2.close()
    finally:
        await nc.close()


def test_r3_stream_survives_leader_kill_and_restart(nats_cluster):
    started = time.monotonic()
    asyncio.run(asyncio.wait_for(scenario(nats_cluster), timeout=55))
    assert time.monotonic() - started < 55
