"""RDS Proxy (MySQL family) against the database itself, in the same run: connections/s (a new
pymysql connection, one query, close; sequential and from 16 threads) and queries/s (SELECT 1
on one connection), through the proxy and directly, with the ratio proxy/direct.

Through the proxy a new client connection reuses a pooled database connection (no server-side
thread or authentication) but pays the proxy's own handshake and the reset when it leaves."""

from __future__ import annotations

import json
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

import pymysql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.conftest import Server

PASSWORD = "Secret123!"
SECONDS = 3.0  # per measurement
THREADS = 16


def local_port(server: Server, kind: str, rid: str) -> int:
    with sqlite3.connect(server.data_dir / "state.db") as db:
        row = db.execute("SELECT body FROM records WHERE kind=? AND id=?", (kind, rid)).fetchone()
    return json.loads(row[0])["_LocalPort"]


def connect(port: int):
    return pymysql.connect(host="127.0.0.1", port=port, user="admin", password=PASSWORD,
                           database="app", connect_timeout=10)


def one_connection(port: int) -> None:
    conn = connect(port)
    with conn.cursor() as cur:
        cur.execute("SELECT 1")
        cur.fetchone()
    conn.close()


def rate(fn, threads: int = 1) -> float:
    """Calls of `fn` per second over SECONDS, from `threads` threads."""
    counts = [0] * threads
    stop = time.perf_counter() + SECONDS

    def loop(i: int) -> None:
        while time.perf_counter() < stop:
            fn()
            counts[i] += 1

    workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(counts) / (time.perf_counter() - start)


def queries(port: int) -> float:
    conn = connect(port)
    cur = conn.cursor()

    def query() -> None:
        cur.execute("SELECT 1")
        cur.fetchone()

    try:
        return rate(query)
    finally:
        conn.close()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp) / "data").start()
        try:
            ec2, rds = server.client("ec2"), server.client("rds")
            vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
            subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.9.{i}.0/24",
                                         AvailabilityZone=f"us-east-1{z}")["Subnet"]["SubnetId"]
                       for i, z in ((1, "a"), (2, "b"))]
            rds.create_db_instance(DBInstanceIdentifier="bench", DBInstanceClass="db.t3.micro",
                                   Engine="mysql", MasterUsername="admin",
                                   MasterUserPassword=PASSWORD, AllocatedStorage=20,
                                   DBName="app")
            rds.create_db_proxy(DBProxyName="bench", EngineFamily="MYSQL",
                                RoleArn="arn:aws:iam::000000000000:role/proxy",
                                VpcSubnetIds=subnets, Auth=[{"SecretArn": "arn:aws:"
                                                             "secretsmanager:x"}])
            rds.register_db_proxy_targets(DBProxyName="bench", DBInstanceIdentifiers=["bench"])
            ports = {"direct": local_port(server, "db_instances", "bench"),
                     "proxy": local_port(server, "db_proxies", "bench")}
            for port in ports.values():  # warm up: the pool's first connections, caches
                for _ in range(20):
                    one_connection(port)
            rows = [
                ("connections/s, sequential", lambda p: rate(lambda: one_connection(p))),
                (f"connections/s, {THREADS} threads",
                 lambda p: rate(lambda: one_connection(p), THREADS)),
                ("queries/s (SELECT 1, one connection)", queries),
            ]
            print(f"{'':40s} {'direct':>10s} {'proxy':>10s} {'proxy/direct':>13s}")
            for label, measure in rows:
                got = {name: measure(port) for name, port in ports.items()}
                print(f"{label:40s} {got['direct']:10.0f} {got['proxy']:10.0f} "
                      f"{got['proxy'] / got['direct']:13.2f}")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
