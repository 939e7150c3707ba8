"""What `vpclocal up` says in its terminal (issue 18): at start, the fabric counts the default
VPC the region starts with; at Ctrl-C (SIGINT to the terminal's whole foreground process group,
the server's sandbox included), it says it stops and where the state is, and nothing about a
lost fabric being rebuilt."""

from __future__ import annotations

import os
from unittest import mock

import pytest

from tests.conftest import Server
from tests.fabric.conftest import needs_fabric

pytestmark = [needs_fabric, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]


def test_start_and_ctrl_c(tmp_path):
    with mock.patch.dict(os.environ, {"VPCLOCAL_FABRIC": "1"}):
        server = Server(tmp_path / "data", terminal=True).start()
    try:
        vpcs = server.client("ec2").describe_vpcs()["Vpcs"]
        assert [v["IsDefault"] for v in vpcs] == [True]
        started = server.log.read_text()
        assert "vpclocal: fabric on: 1 VPC, 0 ENIs built in " in started, started
        assert server.interrupt() == 0
    finally:
        server.stop()
    log = server.log.read_text()
    said = log[len(started):].splitlines()
    assert said == ["vpclocal: SIGINT: stopping",
                    f"vpclocal: stopped (state kept in {server.data_dir})"], log
