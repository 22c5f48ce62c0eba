"""Run a recipe on a 3-node Ray cluster on loopback, losing one worker node during the first map pass and
another during a reduce pass. Used by test_cluster.py as a subprocess (its own Ray, not the test session's).

    python cluster_run.py RECIPE OUTPUT INPUT... → prints one JSON line: {"ok": …, "removed": […]}
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time

os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"

import fsspec  # noqa: E402
import ray  # noqa: E402
from ray.cluster_utils import Cluster  # noqa: E402


def main() -> None:
    recipe, output, *inputs = sys.argv[1:]
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "node_ip_address": "127.0.0.1"})
    workers = [cluster.add_node(num_cpus=1, node_ip_address="127.0.0.1") for _ in range(2)]
    cluster.wait_for_nodes()
    ray.init(address=cluster.address)
    from curate.runner import run

    fs, root = fsspec.core.url_to_fs(output)
    removed: list[str] = []

    def killer() -> None:
        deadline = time.time() + 300
        while time.time() < deadline and len(removed) < 2:
            fs.invalidate_cache()
            if not removed and fs.glob(f"{root}/markers/s0/*.json"):
                cluster.remove_node(workers[0])  # a worker node lost during the first map pass
                removed.append("map")
            elif len(removed) == 1 and fs.glob(f"{root}/global/*/jobs/*.json"):
                cluster.remove_node(workers[1])  # another lost during the reduce pass
                removed.append("reduce")
            time.sleep(0.1)

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    result = run(recipe, inputs, output, limit=30, progress=False)
    t.join(timeout=5)
    print("RESULT " + json.dumps({"ok": result.ok, "failed": result.failed, "removed": removed,
                      "nodes_alive": sum(1 for n in ray.nodes() if n["Alive"])}))
    ray.shutdown()
    cluster.shutdown()


if __name__ == "__main__":
    main()
