"""The `vpclocal` command: `up` serves; `reach`, `why`, `doctor`, `cost`, `internet` and `clock`
ask a running server."""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
from pathlib import Path

from vpclocal.config import Config


def _up(args) -> int:
    from vpclocal.network.hosts import CONFIG_NAME, HostError, load_config
    from vpclocal.server import serve

    config = Config(host=args.host, port=args.port, data_dir=Path(args.data_dir))
    if args.fabric is not None:
        config.fabric = args.fabric
    path = Path(args.config) if args.config else config.data_dir / CONFIG_NAME
    if args.config or path.is_file():
        try:
            config.internet_hosts = load_config(path)
        except HostError as exc:
            print(f"vpclocal up: {exc}", file=sys.stderr)
            return 2
    print(f"vpclocal {_version()} serving {config.endpoint} "
          f"(region {config.region}, account {config.account_id}, data in {config.data_dir})")
    print(f"Console: {config.endpoint}/_vpclocal/console")
    print(f"Point the AWS CLI and SDKs at it:\n"
          f"  export AWS_ENDPOINT_URL={config.endpoint}\n"
          f"  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test "
          f"AWS_DEFAULT_REGION={config.region}", flush=True)
    # what the server writes (S3 objects, deployment packages, logs, the store) is its own:
    # function code runs as other users, and reads only what is made for it (explicit modes)
    os.umask(0o077)
    serve(config)
    return 0


def _client(module: str):
    """The command whose `run(args)` lives in `module`, imported only when it runs (a
    client command starts without loading the server)."""
    def run(args) -> int:
        return importlib.import_module(module).run(args)
    return run


def _version() -> str:
    from vpclocal import __version__

    return __version__


ENDPOINT_HELP = "the server's URL (default: $AWS_ENDPOINT_URL, else http://127.0.0.1:4566)"
REGION_HELP = "the region to look in (default: $AWS_DEFAULT_REGION, else the server's)"


def _asks_the_server(parser: argparse.ArgumentParser, printed: str, region: bool = True) -> None:
    """The options every command that asks a running server takes."""
    parser.add_argument("--json", action="store_true", help=f"print {printed} as JSON")
    parser.add_argument("--endpoint", help=ENDPOINT_HELP)
    if region:
        parser.add_argument("--region", help=REGION_HELP)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vpclocal", description="vpclocal: a local AWS cloud for serverless applications "
        "that live in a VPC, served over the AWS wire protocols. `vpclocal up` serves it; the "
        "other commands ask a running server.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    up = sub.add_parser(
        "up", help="serve the local cloud in the foreground (Ctrl-C stops it)",
        description="Serve every service on one endpoint until Ctrl-C or SIGTERM; state "
        "survives restarts in the data directory.")
    up.add_argument("--host", default="127.0.0.1",
                    help="the address to listen on (default: %(default)s)")
    up.add_argument("--port", type=int, default=4566,
                    help="the port to listen on (default: %(default)s)")
    up.add_argument("--data-dir", default=".vpclocal",
                    help="where the state, logs and objects live (default: %(default)s)")
    up.add_argument("--fabric", action=argparse.BooleanOptionalAction, default=None,
                    help="realize the VPCs in Linux namespaces (default: on; --no-fabric or "
                    "VPCLOCAL_FABRIC=0 turns it off)")
    up.add_argument("--config", metavar="FILE",
                    help="a config file (default: DATA_DIR/vpclocal.toml if present)")
    up.set_defaults(func=_up)
    reach = sub.add_parser(
        "reach", help="can SOURCE reach DESTINATION? hop by hop, with the fix if not",
        description="SOURCE and DESTINATION: resource ids or ARNs (eni-, nat-, igw-, vpce-), "
        "function:NAME, rds:ID, proxy:NAME, cache:ID, IP addresses or hostnames. "
        "Exit status 0 reachable, 1 blocked, 2 error.")
    reach.add_argument("source", metavar="SOURCE", help="where the traffic starts")
    reach.add_argument("destination", metavar="DESTINATION", help="where it goes")
    reach.add_argument("--port", type=int, help="the destination port (required for tcp and udp)")
    reach.add_argument("--protocol", default="tcp", choices=["tcp", "udp", "icmp", "-1"],
                       help="the protocol, -1 for any (default: %(default)s)")
    _asks_the_server(reach, "the analysis")
    reach.set_defaults(func=_client("vpclocal.reach_cli"))
    why = sub.add_parser(
        "why", help="would IAM let PRINCIPAL do ACTION on RESOURCE? which statement decides",
        description="PRINCIPAL: a role's, user's or assumed-role session's ARN, or "
        "function:NAME (its execution role). Exit status 0 allowed, 1 denied, 2 error.")
    why.add_argument("principal", help="an ARN, or function:NAME")
    why.add_argument("action", help="like s3:GetObject")
    why.add_argument("resource", nargs="?", default="*",
                     help="an ARN (default: %(default)s)")
    why.add_argument("--context", action="append", metavar="KEY=VALUE",
                     help="a condition key's value, like aws:SourceVpce=vpce-0abc "
                     "(default: none; repeatable)")
    _asks_the_server(why, "the decision")
    why.set_defaults(func=_client("vpclocal.why_cli"))
    doctor = sub.add_parser(
        "doctor", help="check the account against the guide's best practices, with the fixes",
        description="Findings over the current state (single-AZ functions, database ports open "
        "to the world, shared NAT gateways, S3/DynamoDB through a NAT, missing flow logs, "
        "roles without the VPC permissions, ...), each with its severity, the resources "
        "involved, why it matters and the `aws` commands that fix it. Exit status 0 when no "
        "finding reaches --fail-on, 1 when one does, 2 on error.")
    doctor.add_argument("--fail-on", default="error", choices=["info", "warning", "error"],
                        help="the least severity that makes the exit status 1 "
                        "(default: %(default)s)")
    _asks_the_server(doctor, "the findings")
    doctor.set_defaults(func=_client("vpclocal.doctor_cli"))
    cost = sub.add_parser(
        "cost", help="what the configured resources would cost a month on AWS",
        description="The monthly AWS bill of what is configured now, from us-east-1 list prices "
        "(NAT gateways, interface endpoints, public IPv4 addresses, RDS and ElastiCache hours "
        "for 730 hours; Lambda requests and GB-seconds and CloudWatch Logs ingestion as "
        "recorded in the month; NAT gateway and interface endpoint data processing as the "
        "fabric counted it in VPCs with a flow log), and the saving of each doctor fix. Exit "
        "status 0 done, 2 error.")
    cost.add_argument("--month", help="the month whose recorded usage to price, as YYYY-MM "
                      "(default: the current month, UTC)")
    _asks_the_server(cost, "the bill")
    cost.set_defaults(func=_client("vpclocal.cost_cli"))
    internet = sub.add_parser(
        "internet", help="public hosts of the simulated internet: add, list, remove",
        description="Every name under example.com/.net/.org and the AWS endpoints answer out "
        "of the box; declare the other public names your code calls. Exit status 0 done, "
        "2 error.")
    action = internet.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = action.add_parser("add", help="declare a public host (or move it to another address)",
                            description="Declare a public host: it answers HTTP and HTTPS "
                            "with a JSON echo of each request.")
    add.add_argument("name", help="host name, like api.stripe.com")
    add.add_argument("--address", help="in 198.51.100.0/24 or 203.0.113.0/27 (default: one "
                     "chosen from the name, the same every time)")
    listing = action.add_parser("list", help="list the declared hosts",
                                description="List the declared hosts and their addresses.")
    listing.add_argument("--json", action="store_true", help="print them as JSON")
    remove = action.add_parser("remove", help="forget a declared host",
                               description="Forget a declared host.")
    remove.add_argument("name", help="host name, like api.stripe.com")
    for parser_ in (add, listing, remove):
        parser_.add_argument("--endpoint", help=ENDPOINT_HELP)
    internet.set_defaults(func=_client("vpclocal.internet_cli"))
    clock = sub.add_parser(
        "clock", help="the clock schedules fire by: show it, or move it forward",
        description="EventBridge schedules fire by vpclocal's clock, the real one unless moved "
        "forward: `vpclocal clock advance 5m` makes the firings of the next five minutes now. "
        "Exit status 0 done, 2 error.")
    clock_action = clock.add_subparsers(dest="action", required=True)
    advance = clock_action.add_parser(
        "advance", help="move the clock forward",
        description="Move vpclocal's clock forward: the schedules' firings in between happen "
        "now, each as AWS would have made it.")
    advance.add_argument("duration", help="like 90s, 5m, 1h30m, 2d")
    now = clock_action.add_parser("now", help="the clock's time",
                                  description="Show vpclocal's clock and how far it is ahead.")
    for parser_ in (advance, now):
        _asks_the_server(parser_, "the answer", region=False)
    clock.set_defaults(func=_client("vpclocal.clock_cli"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command != "up":
        # a client command whose reader goes away (`vpclocal reach --json | head`) ends
        # quietly, as `cat` does, instead of with a BrokenPipeError traceback
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
