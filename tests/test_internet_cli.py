"""`vpclocal internet add|list|remove` as a user runs it, against a live `vpclocal up` server
(no fabric needed: declared hosts are records in the store), the config file read at start,
and the reachability engine resolving a declared name.

Exit status: 0 done, 2 error, with one clear line on stderr and never a traceback.
"""

from __future__ import annotations

import json
import signal
import subprocess

import pytest

from tests.conftest import BIN, Server, free_port, held_port, into_closed_pipe
from vpclocal.network.names import stable_address


def vpclocal(server: Server | None, *args: str, endpoint: str | None = None
             ) -> subprocess.CompletedProcess:
    env = server.env() if server else None
    argv = [str(BIN / "vpclocal"), *args]
    if endpoint:
        argv += ["--endpoint", endpoint]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60,
                          check=False)


def listed(server: Server) -> dict[str, str]:
    proc = vpclocal(server, "internet", "list", "--json")
    assert proc.returncode == 0, proc.stderr
    return {h["Name"]: h["Address"] for h in json.loads(proc.stdout)}


def refused(proc: subprocess.CompletedProcess, *words: str) -> None:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    for word in words:
        assert word in proc.stderr, proc.stderr


def test_add_list_remove(server):
    added = vpclocal(server, "internet", "add", "API.Stripe.com.")
    assert added.returncode == 0, added.stderr
    address = stable_address("api.stripe.com")
    assert f"api.stripe.com is at {address}" in added.stdout
    assert vpclocal(server, "internet", "add", "hooks.slack.com", "--address",
                    "203.0.113.7").returncode == 0
    hosts = listed(server)
    assert hosts["api.stripe.com"] == address
    assert hosts["hooks.slack.com"] == "203.0.113.7"
    table = vpclocal(server, "internet", "list").stdout.splitlines()
    assert table[0].split() == ["NAME", "ADDRESS"]
    assert ["hooks.slack.com", "203.0.113.7"] in [line.split() for line in table[1:]]

    # adding again moves the host
    assert vpclocal(server, "internet", "add", "hooks.slack.com", "--address",
                    "198.51.100.77").returncode == 0
    assert listed(server)["hooks.slack.com"] == "198.51.100.77"

    removed = vpclocal(server, "internet", "remove", "Hooks.Slack.com")
    assert removed.returncode == 0, removed.stderr
    assert "hooks.slack.com removed" in removed.stdout
    assert "hooks.slack.com" not in listed(server)
    assert vpclocal(server, "internet", "remove", "api.stripe.com").returncode == 0


def test_a_reader_that_goes_away_ends_it_quietly(server):
    """`vpclocal internet list | head -1`: no BrokenPipeError traceback, the end `cat` has."""
    assert vpclocal(server, "internet", "add", "pipe.example.org").returncode == 0
    for args in (["internet", "list"], ["internet", "list", "--json"]):
        proc = into_closed_pipe([str(BIN / "vpclocal"), *args], server.env())
        assert proc.returncode == -signal.SIGPIPE, (proc.returncode, proc.stderr)
        assert proc.stderr == ""
    assert vpclocal(server, "internet", "remove", "pipe.example.org").returncode == 0


@pytest.mark.parametrize(("args", "words"), [
    (("add", "not_a_host"), ["'not_a_host' is not a public host name"]),
    (("add", "localhost"), ["'localhost' is not a public host name"]),
    (("add", "10.0.0.1"), ["is not a public host name"]),
    (("add", "bad-.example.net"), ["is not a public host name"]),
    (("add", "s3.us-east-1.amazonaws.com"), ["under amazonaws.com"]),
    (("add", "api.stripe.com", "--address", "10.0.0.5"), ["outside the simulated internet"]),
    (("add", "api.stripe.com", "--address", "203.0.113.193"), ["outside", "203.0.113.30"]),
    (("add", "api.stripe.com", "--address", "198.51.100.255"), ["outside"]),
    (("add", "api.stripe.com", "--address", "banana"), ["'banana' is not an IPv4 address"]),
    (("remove", "never.declared.example"), ["no declared internet host named"]),
])
def test_bad_input_is_a_clear_error(server, args, words):
    refused(vpclocal(server, "internet", *args), *words)
    assert "api.stripe.com" not in listed(server)


def test_the_server_checks_too(server):
    """The route refuses what the CLI would have refused (for other clients)."""
    import urllib.error
    import urllib.request

    def post(body: bytes) -> tuple[int, dict]:
        request = urllib.request.Request(server.endpoint + "/_vpclocal/internet", data=body,
                                         method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as r:
                return r.status, json.load(r)
        except urllib.error.HTTPError as exc:
            return exc.code, json.load(exc)

    assert post(b"{}") == (400, {"error": "missing field name"})
    assert post(b"[1]")[0] == 400
    status, body = post(b"not json")
    assert status == 400 and body["error"].startswith("the body is not JSON")
    status, body = post(json.dumps({"name": 7}).encode())
    assert status == 400 and "must be a string" in body["error"]
    status, body = post(json.dumps({"name": "a.example.org", "address": "203.0.113.200"}
                                   ).encode())
    assert status == 400 and "outside" in body["error"]
    assert post(json.dumps({"name": "a.example.org"}).encode()) == (
        200, {"Host": {"Name": "a.example.org", "Address": stable_address("a.example.org")}})
    assert vpclocal(server, "internet", "remove", "a.example.org").returncode == 0


def test_no_server_is_a_clear_error():
    with held_port() as sock:  # nothing listens there, nor can meanwhile
        refused(vpclocal(None, "internet", "list",
                         endpoint=f"http://127.0.0.1:{sock.getsockname()[1]}"),
                "cannot reach the server")


def test_declared_hosts_survive_a_restart(tmp_path):
    server = Server(tmp_path / "data").start()
    try:
        assert vpclocal(server, "internet", "add", "api.stripe.com", "--address",
                        "198.51.100.42").returncode == 0
    finally:
        server.stop()
    server = Server(tmp_path / "data").start()
    try:
        assert listed(server) == {"api.stripe.com": "198.51.100.42"}
    finally:
        server.stop()


CONFIG = """
[internet]
hosts = ["api.stripe.com", {name = "Hooks.Slack.com", address = "203.0.113.7"}]
"""


def test_config_file_in_the_data_dir(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "vpclocal.toml").write_text(CONFIG)
    server = Server(tmp_path / "data").start()
    try:
        assert listed(server) == {"api.stripe.com": stable_address("api.stripe.com"),
                                  "hooks.slack.com": "203.0.113.7"}
        # the reachability engine resolves a declared name to its address
        reach = subprocess.run([str(BIN / "vpclocal"), "reach", "198.51.100.1",
                                "hooks.slack.com", "--port", "443", "--json"],
                               env=server.env(), capture_output=True, text=True, timeout=60,
                               check=False)
        assert reach.returncode == 0, reach.stderr
        assert json.loads(reach.stdout)["analysis"]["destination"]["address"] == "203.0.113.7"
    finally:
        server.stop()


def test_config_file_given_with_config(tmp_path):
    config = tmp_path / "elsewhere.toml"
    config.write_text('[internet]\nhosts = [{name = "api.example.org", address = '
                      '"198.51.100.200"}]\n')
    server = Server(tmp_path / "data", args=("--config", str(config))).start()
    try:
        assert listed(server) == {"api.example.org": "198.51.100.200"}
    finally:
        server.stop()


@pytest.mark.parametrize(("text", "words"), [
    ('[internet]\nhosts = ["no_underscores.com"]\n', ["internet.hosts[0]", "not a public host"]),
    ('[internet]\nhosts = [{name = "a.example.com", address = "192.0.2.1"}]\n',
     ["internet.hosts[0]", "outside"]),
    ('[internet]\nhosts = [{address = "198.51.100.3"}]\n', ["needs `name`"]),
    ('[internet]\nhost = ["a.example.com"]\n', ["unknown key(s) in [internet]: host"]),
    ('[internet]\nhosts = "a.example.com"\n', ["must be a list"]),
    ("[internet\n", ["is not valid TOML"]),
])
def test_a_bad_config_file_stops_the_start(tmp_path, text, words):
    config = tmp_path / "vpclocal.toml"
    config.write_text(text)
    proc = subprocess.run([str(BIN / "vpclocal"), "up", "--port", str(free_port()),
                           "--data-dir", str(tmp_path / "data"), "--config", str(config)],
                          capture_output=True, text=True, timeout=60, check=False)
    refused(proc, "vpclocal up:", str(config), *words)


def test_a_missing_config_file_given_with_config(tmp_path):
    proc = subprocess.run([str(BIN / "vpclocal"), "up", "--port", str(free_port()),
                           "--data-dir", str(tmp_path / "data"), "--config",
                           str(tmp_path / "nope.toml")],
                          capture_output=True, text=True, timeout=60, check=False)
    refused(proc, "cannot read", "nope.toml")
