"""RDS Proxy for MySQL against a live MariaDB: clients (pymysql, the mariadb CLI, Lambda
functions) log in to the proxy, share a pool capped at MaxConnectionsPercent of the
database's max_connections, and never see another session's state. The database is watched
directly, through its own port, while the clients run."""

from __future__ import annotations

import hashlib
import socket
import struct
import subprocess
import threading
import time

import boto3
import botocore.config
import pymysql
import pytest

from tests.conftest import Server
from tests.rds.test_rds import PASSWORD, error_of, internal, network

CAP_PERCENT = 3  # of MariaDB's max_connections 151: a cap of 4 connections
DENIED = "Access denied for user '{}'@'%' (using password: YES)"  # RDS Proxy's wording


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Our own server: the tests restart it. (Functions through the proxy, which need the
    fabric: test_mysql_proxy_lambda.py.)"""
    srv = Server(tmp_path_factory.mktemp("mysqlproxy") / "data").start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def rds(server):
    return server.client("rds")


@pytest.fixture(scope="module")
def proxy(server, rds):
    """A MySQL instance `mydb` (database `app`) behind the proxy `myproxy`, capped small."""
    _, subnets = network(server.client("ec2"), "10.50.0.0/16")
    rds.create_db_subnet_group(DBSubnetGroupName="proxy-tests", DBSubnetGroupDescription="t",
                               SubnetIds=subnets)
    rds.create_db_instance(DBInstanceIdentifier="mydb", DBInstanceClass="db.t3.micro",
                           Engine="mysql", MasterUsername="admin", MasterUserPassword=PASSWORD,
                           AllocatedStorage=20, DBSubnetGroupName="proxy-tests", DBName="app")
    rds.create_db_proxy(DBProxyName="myproxy", EngineFamily="MYSQL",
                        RoleArn="arn:aws:iam::000000000000:role/proxy", VpcSubnetIds=subnets,
                        Auth=[{"SecretArn": "arn:aws:secretsmanager:us-east-1:000000000000:"
                               "secret:db"}])
    rds.modify_db_proxy_target_group(DBProxyName="myproxy", TargetGroupName="default",
                                     ConnectionPoolConfig={
                                         "MaxConnectionsPercent": CAP_PERCENT})
    rds.register_db_proxy_targets(DBProxyName="myproxy", DBInstanceIdentifiers=["mydb"])
    rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="mydb",
                                                 WaiterConfig={"Delay": 1})
    with direct(server) as conn, conn.cursor() as cur:  # rows some tests lock (any worker)
        cur.execute("CREATE TABLE items (id INT PRIMARY KEY, v VARCHAR(20))")
        cur.execute("INSERT INTO items VALUES (1, 'one'), (2, 'two')")
        conn.commit()
    return internal(server, "db_proxies", "myproxy")["_LocalPort"]


def cap(percent: int = CAP_PERCENT) -> int:
    return 151 * percent // 100


def via_proxy(port: int, password: str = PASSWORD, **kwargs):
    return pymysql.connect(host="127.0.0.1", port=port, user="admin", password=password,
                           database="app", connect_timeout=10, read_timeout=60, **kwargs)


def direct(server: Server):
    port = internal(server, "db_instances", "mydb")["_LocalPort"]
    return pymysql.connect(host="127.0.0.1", port=port, user="admin", password=PASSWORD,
                           database="app", connect_timeout=5, autocommit=True)


class Watcher:
    """Samples, directly on the database, how many sessions of `admin` other than its own
    exist (the proxy's connections) while clients run."""

    QUERY = ("SELECT COUNT(*) FROM information_schema.PROCESSLIST "
             "WHERE USER = 'admin' AND ID <> CONNECTION_ID()")

    def __init__(self, server: Server) -> None:
        self.conn = direct(server)
        self.samples: list[int] = []

    def count(self) -> int:
        with self.conn.cursor() as cur:
            cur.execute(self.QUERY)
            return cur.fetchone()[0]

    def watch(self, threads: list[threading.Thread]) -> None:
        while any(t.is_alive() for t in threads):
            self.samples.append(self.count())
            time.sleep(0.005)
        for t in threads:
            t.join()


def health(rds) -> dict:
    return rds.describe_db_proxy_targets(DBProxyName="myproxy")["Targets"][0]["TargetHealth"]


def test_query_through_the_proxy(server, rds, proxy):
    assert health(rds) == {"State": "AVAILABLE"}
    with via_proxy(proxy) as conn, conn.cursor() as cur:
        cur.execute("SELECT VERSION(), DATABASE(), CURRENT_USER()")
        version, db, user = cur.fetchone()
        assert "MariaDB" in version and db == "app" and user == "admin@%"
        cur.execute("CREATE TABLE notes (id INT PRIMARY KEY, v VARCHAR(20))")
        cur.execute("INSERT INTO notes VALUES (1, 'one'), (2, 'two')")
        conn.commit()
        cur.execute("SELECT v FROM notes ORDER BY id")
        assert cur.fetchall() == (("one",), ("two",))
    with direct(server) as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM notes")
        assert cur.fetchone() == (2,)


def test_wrong_credentials_get_mysql_access_denied(server, proxy):
    for user, password in (("admin", "wrong-password"), ("nobody", PASSWORD)):
        with pytest.raises(pymysql.err.OperationalError) as caught:
            pymysql.connect(host="127.0.0.1", port=proxy, user=user, password=password,
                            connect_timeout=5)
        assert caught.value.args == (1045, DENIED.format(user))
    # the mariadb CLI shows the SQLSTATE too
    cli = subprocess.run(["mariadb", "--no-defaults", "-h", "127.0.0.1", "-P", str(proxy),
                          "-u", "admin", "-pwrong-password", "-e", "SELECT 1"],
                         capture_output=True, text=True, timeout=30, check=False)
    assert cli.returncode == 1
    assert cli.stderr.strip() == f"ERROR 1045 (28000): {DENIED.format('admin')}"
    # and the right password works from the CLI (its own handshake and capabilities)
    cli = subprocess.run(["mariadb", "--no-defaults", "-h", "127.0.0.1", "-P", str(proxy),
                          "-u", "admin", f"-p{PASSWORD}", "app", "--batch",
                          "--skip-column-names", "-e", "SELECT DATABASE(), 6 * 7"],
                         capture_output=True, text=True, timeout=30, check=False)
    assert (cli.returncode, cli.stdout) == (0, "app\t42\n"), cli.stderr


def set_pool(rds, **conf) -> None:
    rds.modify_db_proxy_target_group(DBProxyName="myproxy", TargetGroupName="default",
                                     ConnectionPoolConfig=conf)


class RawClient:
    """The few protocol steps pymysql cannot be made to take: starting with
    caching_sha2_password (as MySQL 8 clients do) and COM_CHANGE_USER."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        hello = self.read()[1]
        version_end = hello.index(b"\0", 1)
        self.scramble = hello[version_end + 5:version_end + 13] + \
            hello[version_end + 32:version_end + 44]

    def read(self) -> tuple[int, bytes]:
        header = self.sock.recv(4, socket.MSG_WAITALL)
        length = int.from_bytes(header[:3], "little")
        return header[3], self.sock.recv(length, socket.MSG_WAITALL) if length else b""

    def send(self, seq: int, payload: bytes) -> None:
        self.sock.sendall(len(payload).to_bytes(3, "little") + bytes([seq]) + payload)

    @staticmethod
    def proof(password: str, scramble: bytes) -> bytes:
        stage1 = hashlib.sha1(password.encode()).digest()
        mask = hashlib.sha1(scramble + hashlib.sha1(stage1).digest()).digest()
        return bytes(a ^ b for a, b in zip(stage1, mask, strict=True))

    def query_one(self, sql: str) -> list[bytes]:
        self.send(0, b"\x03" + sql.encode())
        columns = self.read()[1][0]
        for _ in range(columns + 1):  # definitions and EOF (no DEPRECATE_EOF asked)
            self.read()
        row, values, pos = self.read()[1], [], 0
        for _ in range(columns):
            size = row[pos]
            values.append(row[pos + 1:pos + 1 + size])
            pos += 1 + size
        self.read()  # EOF
        return values


def test_caching_sha2_client_is_switched_and_change_user(server, proxy):
    with direct(server) as conn, conn.cursor() as cur:
        cur.execute("CREATE USER IF NOT EXISTS 'reader'@'%' IDENTIFIED BY 'Reader123!'")
        cur.execute("GRANT SELECT ON app.* TO 'reader'@'%'")
    client = RawClient(proxy)
    caps = 0x200 | 0x8000 | 0x80000 | 0x8  # PROTOCOL_41 SECURE_CONNECTION PLUGIN_AUTH WITH_DB
    client.send(1, struct.pack("<IIB", caps, 1 << 24, 45) + bytes(23) + b"admin\0"
                + bytes([32]) + bytes(32) + b"app\0caching_sha2_password\0")
    seq, switch = client.read()
    assert switch[:1] == b"\xfe" and switch[1:23] == b"mysql_native_password\0"
    client.send(seq + 1, client.proof(PASSWORD, switch[23:43]))
    assert client.read()[1][:1] == b"\x00"
    assert client.query_one("SELECT CURRENT_USER(), DATABASE()") == [b"admin@%", b"app"]
    # COM_CHANGE_USER: the proof is for the proxy's scramble, the proxy redoes it for the server
    client.send(0, b"\x11reader\0" + bytes([20]) + client.proof("Reader123!", client.scramble)
                + b"app\0" + struct.pack("<H", 45) + b"mysql_native_password\0")
    assert client.read()[1][:1] == b"\x00"
    assert client.query_one("SELECT CURRENT_USER(), DATABASE()") == [b"reader@%", b"app"]
    client.send(0, b"\x11reader\0" + bytes([20]) + bytes(20) + b"\0")
    error = client.read()[1]
    assert error[:9] == b"\xff" + struct.pack("<H", 1045) + b"#28000"
    client.sock.close()


def test_session_state_does_not_leak(server, rds, proxy):
    # one connection, kept when idle: the next client gets the same one
    set_pool(rds, MaxConnectionsPercent=1, MaxIdleConnectionsPercent=1)
    try:
        leave_state_behind(server, proxy)
    finally:
        set_pool(rds, MaxConnectionsPercent=CAP_PERCENT)


def leave_state_behind(server, proxy):
    with via_proxy(proxy) as conn, conn.cursor() as cur:
        cur.execute("SELECT CONNECTION_ID()")
        first = cur.fetchone()[0]
        cur.execute("SET @secret = 'leaked', SESSION sql_mode = 'ANSI_QUOTES'")
        cur.execute("CREATE TEMPORARY TABLE scratch (v INT)")
        cur.execute("INSERT INTO scratch VALUES (1)")
        cur.execute("USE mysql")
        cur.execute("BEGIN")
        cur.execute("SELECT v FROM app.items WHERE id = 1 FOR UPDATE")  # a row lock
    with via_proxy(proxy) as conn, conn.cursor() as cur:
        cur.execute("SELECT CONNECTION_ID(), @secret, @@SESSION.sql_mode = @@GLOBAL.sql_mode,"
                    " DATABASE()")
        # the same database connection (pooled), and nothing of the previous session
        assert cur.fetchone() == (first, None, 1, "app")
        with pytest.raises(pymysql.err.ProgrammingError) as caught:
            cur.execute("SELECT v FROM scratch")
        assert caught.value.args[0] == 1146
    with direct(server) as conn, conn.cursor() as cur:  # the lock went with the session
        cur.execute("SET SESSION innodb_lock_wait_timeout = 2")
        cur.execute("UPDATE items SET v = 'uno' WHERE id = 1")


def hundred_at_once(server, work, reused: bool = True):
    """100 clients run `work` at once (each its own connection through the proxy): all
    succeed, and the database never holds more than the pool's cap of connections; with
    `reused`, every client ran on one of the first cap connections (clients that arrive
    staggered, like Lambda cold starts, may find the idle list full: MaxIdleConnectionsPercent
    closes a returned connection, and a later client gets a new one)."""
    threads, (results, errors) = run_clients(100, work)
    watcher = Watcher(server)
    for t in threads:
        t.start()
    watcher.watch(threads)
    assert not errors, errors[:3]
    assert len(results) == 100
    assert 1 <= max(watcher.samples) <= cap()
    if reused:
        assert len(set(results)) <= cap()
    return watcher


def run_clients(count: int, work) -> tuple[list, list]:
    results, errors = [], []
    barrier = threading.Barrier(count)

    def client():
        try:
            barrier.wait(60)
            results.append(work())
        except Exception as exc:  # noqa: BLE001 - collected and reported below
            errors.append(exc)

    return [threading.Thread(target=client) for _ in range(count)], (results, errors)


def test_100_clients_share_the_capped_pool(server, rds, proxy):
    def work():
        with via_proxy(proxy) as conn, conn.cursor() as cur:
            cur.execute("SELECT SLEEP(0.05), CONNECTION_ID()")
            return cur.fetchone()[1]

    watcher = hundred_at_once(server, work)
    assert watcher.count() <= cap()


def hold(port: int, count: int) -> list:
    """`count` client sessions kept open, each pinning one pooled connection."""
    return [via_proxy(port) for _ in range(count)]


def test_borrow_timeout_and_a_raised_cap(server, rds, proxy):
    rds.modify_db_proxy_target_group(DBProxyName="myproxy", TargetGroupName="default",
                                     ConnectionPoolConfig={"ConnectionBorrowTimeout": 1})
    held = hold(proxy, cap())
    watcher = Watcher(server)
    try:
        assert watcher.count() == cap()
        with pytest.raises(pymysql.err.OperationalError) as caught:
            via_proxy(proxy)
        assert caught.value.args == (9501, "Timed-out waiting to acquire database connection")

        rds.modify_db_proxy_target_group(DBProxyName="myproxy", TargetGroupName="default",
                                         ConnectionPoolConfig={"ConnectionBorrowTimeout": 60})
        waiting: list = []
        late = threading.Thread(target=lambda: waiting.append(via_proxy(proxy)))
        late.start()
        late.join(0.5)
        assert late.is_alive() and watcher.count() == cap()  # it waits for a connection
        raised = rds.modify_db_proxy_target_group(
            DBProxyName="myproxy", TargetGroupName="default",
            ConnectionPoolConfig={"MaxConnectionsPercent": 2 * CAP_PERCENT})
        assert raised["DBProxyTargetGroup"]["ConnectionPoolConfig"][
            "MaxConnectionsPercent"] == 2 * CAP_PERCENT
        late.join(30)  # the raised cap serves it at once
        assert not late.is_alive() and len(waiting) == 1
        held += waiting + hold(proxy, cap(2 * CAP_PERCENT) - cap() - 1)
        assert watcher.count() == cap(2 * CAP_PERCENT)
    finally:
        for conn in held:
            conn.close()
        rds.modify_db_proxy_target_group(DBProxyName="myproxy", TargetGroupName="default",
                                         ConnectionPoolConfig={
                                             "MaxConnectionsPercent": CAP_PERCENT,
                                             "ConnectionBorrowTimeout": 120})
    deadline = time.monotonic() + 10
    while watcher.count() > cap() and time.monotonic() < deadline:
        time.sleep(0.05)  # the lowered cap closes connections as they come back
    assert watcher.count() <= cap()


def test_restarts_keep_the_proxy_working(server, rds, proxy):
    with via_proxy(proxy) as conn, conn.cursor() as cur:  # leaves an idle pooled connection
        cur.execute("CREATE TABLE kept (v INT)")
        cur.execute("INSERT INTO kept VALUES (7)")
        conn.commit()
    # one attempt: a failed reboot shows its own error, not a retry's "not in available state"
    once = boto3.client("rds", endpoint_url=server.endpoint, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test",
                        config=botocore.config.Config(retries={"total_max_attempts": 1}))
    once.reboot_db_instance(DBInstanceIdentifier="mydb")
    with via_proxy(proxy) as conn, conn.cursor() as cur:  # the dead idle one is replaced
        cur.execute("SELECT v FROM kept")
        assert cur.fetchone() == (7,)

    rds.stop_db_instance(DBInstanceIdentifier="mydb")
    got = health(rds)
    assert got["State"] == "UNAVAILABLE" and got["Reason"] == "CONNECTION_FAILED"
    rds.start_db_instance(DBInstanceIdentifier="mydb")
    assert health(rds) == {"State": "AVAILABLE"}

    server.stop()
    server.start()
    assert health(rds) == {"State": "AVAILABLE"}
    with via_proxy(proxy) as conn, conn.cursor() as cur:
        cur.execute("SELECT v FROM kept")
        assert cur.fetchone() == (7,)


def test_delete_stops_the_proxy(server, rds, proxy):
    rds.delete_db_proxy(DBProxyName="myproxy")
    assert error_of(rds.describe_db_proxies, DBProxyName="myproxy")[::2] == (
        "DBProxyNotFoundFault", 404)
    with pytest.raises(pymysql.err.OperationalError) as caught:
        via_proxy(proxy)
    assert caught.value.args[0] == 2003
    rds.delete_db_instance(DBInstanceIdentifier="mydb", SkipFinalSnapshot=True)
