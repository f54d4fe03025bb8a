"""`wharf top --cluster` finds every node of a cluster from one URL (each
node announces its metrics address with its lease), in a real terminal."""
import json
import shutil

import pytest

from conftest import WHARF, start_broker  # noqa: E402
from natscluster import available, nats_cluster  # noqa: E402,F401
from test_20_top import tmux  # noqa: E402,F401
from test_47_cluster_nats_oracle import cluster_config, wait_ready  # noqa: E402

pytestmark = pytest.mark.skipif(not available() or shutil.which("tmux") is None, reason="needs nats-server and tmux")


def snapshot(node):
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{node.metrics_port}/api/v1/snapshot", timeout=3) as r:
        return json.load(r)


def test_top_finds_every_node_from_one_url(nats_cluster, tmp_path, tmux):
    a = start_broker(tmp_path, cluster_config("top-a", nats_cluster.urls), extra_args=["--in-memory"])
    b = start_broker(tmp_path, cluster_config("top-b", nats_cluster.urls), extra_args=["--in-memory"])
    try:
        wait_ready(a)
        wait_ready(b)
        # Both announced: a's snapshot lists b with its metrics address.
        import time
        deadline = time.monotonic() + 10
        while len(snapshot(a)["cluster"]["liveNodes"]) < 2:
            assert time.monotonic() < deadline, snapshot(a)["cluster"]
            time.sleep(0.1)
        top = tmux(f"{WHARF} top --cluster --url http://127.0.0.1:{a.metrics_port} --interval 0.5", width=140)
        top.wait_for(lambda s: "wharf top" in s)
        top.keys("6")
        # Nodes found from a's snapshot start as "connecting" and turn
        # "connected" at top's next fetch (half a second later).
        screen = top.wait_for(lambda s: str(a.metrics_port) in s and str(b.metrics_port) in s and s.count("connected") >= 2)
        assert "retrying" not in screen
        top.keys("q")
        top.wait_for(lambda s: "WHARF-EXITED=0" in s)
    finally:
        a.stop()
        b.stop()
