"""create-db-instance -> available, wall time, for mysql (MariaDB) and postgres, through boto3
against a fresh vpclocal server. Goal: <= 3 s each."""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.conftest import Server

ROUNDS = 3


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp) / "data").start()
        try:
            rds = server.client("rds")
            for engine in ("mysql", "postgres"):
                times = []
                for i in range(ROUNDS):
                    db_id = f"bench-{engine}-{i}"
                    start = time.perf_counter()
                    rds.create_db_instance(
                        DBInstanceIdentifier=db_id, DBInstanceClass="db.t3.micro",
                        Engine=engine, MasterUsername="master", MasterUserPassword="Secret123!",
                        AllocatedStorage=20, DBName="app")
                    while rds.describe_db_instances(DBInstanceIdentifier=db_id)[
                            "DBInstances"][0]["DBInstanceStatus"] != "available":
                        time.sleep(0.05)
                    times.append(time.perf_counter() - start)
                    rds.delete_db_instance(DBInstanceIdentifier=db_id, SkipFinalSnapshot=True)
                print(f"{engine:9s} create -> available: median {statistics.median(times):.2f} s"
                      f"  (min {min(times):.2f}, max {max(times):.2f}, n={ROUNDS}; goal <= 3 s)")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
