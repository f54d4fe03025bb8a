"""Issue 18's bar, in CI: the cluster chaos run (Tests/e2e/chaos.py; docs/
cluster.md, "The chaos test") for 5 cycles. Three Wharf nodes over three
nats-servers of its own on 127.0.0.1; paho publishers at QoS 1 and 2 and two
persistent subscribers and three members of one consumer group roam
between the nodes while a seeded loop kill -9s one Wharf node or one
nats-server at a time and starts it again.

Every message a publisher got PUBACK or PUBCOMP for must reach both
subscribers, QoS 2 ones exactly once, and one group member (QoS 2 members:
the QoS 2 publisher's exactly once over all of them);
every reconnect must find its session. `scripts/cluster-crash-test 50` runs the same for 50 cycles.
Bounded: about a minute and a half, every wait has a timeout."""
import pytest

import chaos
from natscluster import available

pytestmark = pytest.mark.skipif(not available(), reason="nats-server is not installed")


def test_five_kill_cycles_lose_nothing_acknowledged_and_deliver_qos2_once(tmp_path):
    result = chaos.run(cycles=5, seed=1, directory=tmp_path, group=True)
    report = "\n".join([result.summary(), f"killed: {', '.join(result.victims)}", *result.details])
    print(report)
    # Enough traffic that a loss would show: two publishers at about 100
    # messages a second each for the whole run.
    assert result.acknowledged >= 1000, report
    if (result.lost or result.qos2_duplicates or result.group_lost or result.group_qos2_duplicates) and result.server_faults:
        # Not passed: nats-server 2.9.10 reset its replicas of a stream (the
        # session queues, the groups' queues) to one that had lost messages
        # (it logged so), and what the clients then got is that stream's.
        # Wharf cannot keep what JetStream dropped; nats-server 2.9.18 or
        # later is the remedy.
        pytest.skip(f"nats-server reset a stream's replicas during the run:\n{report}")
    assert result.lost == 0, report
    assert result.qos2_duplicates == 0, report
    assert result.group_lost == 0, report
    assert result.group_qos2_duplicates == 0, report
    assert result.sessions_lost == 0, report
