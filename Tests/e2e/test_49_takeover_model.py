"""The cross-node session takeover protocol (issue 18), model-checked with
spin before it is built: Tests/Models/session_takeover.pml.

What a reader of docs/cluster.md checks: for every interleaving of three
nodes, three connects of one client, a node crash or a lost NATS link, no
two nodes ever deliver the session at once; and the checker is able to say
otherwise: the naive protocol (ask only the record's last owner) fails."""
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHECK = os.path.join(ROOT, "Tests", "Models", "check-takeover")


def test_takeover_never_lets_two_nodes_deliver_and_the_naive_one_does():
    result = subprocess.run([CHECK], capture_output=True, text=True, timeout=600)
    lines = result.stdout.splitlines()
    assert result.returncode == 0, result.stdout + result.stderr[-4000:]
    assert lines[0].startswith("takeover, 1 crash: ok, "), lines
    assert lines[1].startswith("takeover, 1 NATS loss: ok, "), lines
    assert lines[2] == "naive takeover (asks only the last owner): violated", lines
    # Exhaustive, not a handful of states: millions each.
    for line in lines[:2]:
        assert float(line.rsplit(" ", 2)[1]) > 1e6, line
