"""`vpclocal doctor`: the guide's checklist (troubleshooting and best practices, sections 6 and
7 of the Lambda-in-a-VPC guide) applied to the account's current state.

Each check is one small function over a read-only Account (account.py) that yields the
problems it sees; CHECKS (checks.py) says, for each, its id, severity and the guide's rationale.
run() turns their problems into findings, each with the `aws` commands that fix it. Most
checks read the configuration; two read what the running server saw (Evidence): connections
the network dropped, and functions that open a database connection on every invocation.
"""

from __future__ import annotations

from vpclocal.doctor.account import Account, Evidence
from vpclocal.doctor.checks import CHECKS, SEVERITIES, Check, Finding, run

__all__ = ["CHECKS", "SEVERITIES", "Account", "Check", "Evidence", "Finding", "run"]
