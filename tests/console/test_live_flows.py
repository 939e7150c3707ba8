"""The flow counters' memory for the console's live flows (fabric/flowlogs.py Collector):
edges between ENIs, a reply counted on its request's edge, forgotten after LIVE_SECONDS.
tests/console/test_console.py sees them drawn from real traffic."""

from __future__ import annotations

from vpclocal.fabric.flowlogs import LIVE_SECONDS, REJECT_DST, Collector

OWNER = {"10.0.10.5": "eni-fn", "10.0.10.4": "eni-db"}


def edge(source, destination, port, action, packets, size, age) -> dict:
    return {"vpc": "vpc-1", "source": source, "destination": destination, "protocol": 6,
            "port": port, "action": action, "packets": packets, "bytes": size, "age": age}


def test_replies_count_on_their_request_and_old_flows_go():
    live = Collector(service=None, deliver=None, local_interval=None)
    live._remember("vpc-1", ("10.0.10.5", "10.0.10.4", 6, 40000, 3306), 0, OWNER, 2, 120, 100.0)
    live._remember("vpc-1", ("10.0.10.4", "10.0.10.5", 6, 3306, 40000), 0, OWNER, 1, 60, 101.0)
    live._remember("vpc-1", ("10.0.10.5", "10.0.10.4", 6, 40001, 3306), REJECT_DST, OWNER,
                   3, 180, 102.0)
    live._remember("vpc-1", ("10.0.10.5", "198.51.100.7", 6, 40002, 443), 0, OWNER, 1, 60, 90.0)
    assert live.recent({"vpc-1"}, 103.0) == [
        edge("eni-fn", "198.51.100.7", 443, "ACCEPT", 1, 60, 13.0),
        edge("eni-fn", "eni-db", 3306, "ACCEPT", 3, 180, 2.0),
        edge("eni-fn", "eni-db", 3306, "REJECT", 3, 180, 1.0)]
    assert live.recent({"vpc-2"}, 103.0) == []  # another region's VPCs
    assert [e["action"] for e in live.recent({"vpc-1"}, 101.0 + LIVE_SECONDS + 0.5)] == [
        "REJECT"]
