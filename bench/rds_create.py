"""create-db-instance -> available, wall time, for mysql (MariaDB) and postgres, Single-AZ and
Multi-AZ (a standby replica in another AZ of the default VPC's subnet group), through boto3
against a fresh vpclocal server. Goal: <= 3 s each (Single-AZ)."""

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
            for engine, multi in (("mysql", False), ("mysql", True), ("postgres", False),
                                  ("postgres", True)):
                times = []
                for i in range(ROUNDS):
                    db_id = f"bench-{engine}-{i}{'-maz' if multi else ''}"
                    start = time.perf_counter()
                    rds.create_db_instance(
                        DBInstanceIdentifier=db_id, DBInstanceClass="db.t3.micro",
                        Engine=engine, MasterUsername="master", MasterUserPassword="Secret123!",
                        AllocatedStorage=20, DBName="app", MultiAZ=multi)
                    while rds.describe_db_instances(DBInstanceIdentifier=db_id)[
                            "DBInstances"][0]["DBInstanceStatus"] != "available":
                        time.sleep(0.05)
                    times.append(time.perf_counter() - start)
                    rds.delete_db_instance(DBInstanceIdentifier=db_id, SkipFinalSnapshot=True)
                kind = "Multi-AZ " if multi else "Single-AZ"
                print(f"{engine:9s} {kind} create -> available: median "
                      f"{statistics.median(times):.2f} s  (min {min(times):.2f}, max "
                      f"{max(times):.2f}, n={ROUNDS}{'' if multi else '; goal <= 3 s'})")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
