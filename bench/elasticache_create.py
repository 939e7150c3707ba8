"""create-cache-cluster -> available, wall time, for a one-node Redis cluster, through boto3
against a fresh vpclocal server. The tests check the cluster is available by the first
describe (so the aws CLI's waiter never sleeps); this prints how long the create takes."""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.conftest import Server

ROUNDS = 5


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp) / "data").start()
        try:
            cache = server.client("elasticache")
            times = []
            for i in range(ROUNDS):
                cluster_id = f"bench-{i}"
                start = time.perf_counter()
                cache.create_cache_cluster(CacheClusterId=cluster_id, Engine="redis",
                                           CacheNodeType="cache.t3.micro", NumCacheNodes=1)
                while cache.describe_cache_clusters(CacheClusterId=cluster_id)[
                        "CacheClusters"][0]["CacheClusterStatus"] != "available":
                    time.sleep(0.05)
                times.append(time.perf_counter() - start)
                cache.delete_cache_cluster(CacheClusterId=cluster_id)
            print(f"redis cache cluster create -> available: median "
                  f"{statistics.median(times):.2f} s  (min {min(times):.2f}, "
                  f"max {max(times):.2f}, n={ROUNDS})")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
