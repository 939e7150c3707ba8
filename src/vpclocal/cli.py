"""The `vpclocal` command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vpclocal.config import Config


def _up(args) -> int:
    from vpclocal.server import serve

    config = Config(host=args.host, port=args.port, data_dir=Path(args.data_dir))
    if args.fabric is not None:
        config.fabric = args.fabric
    print(f"vpclocal {_version()} serving {config.endpoint} "
          f"(region {config.region}, account {config.account_id}, data in {config.data_dir})")
    print(f"Point the AWS CLI and SDKs at it:\n"
          f"  export AWS_ENDPOINT_URL={config.endpoint}\n"
          f"  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test "
          f"AWS_DEFAULT_REGION={config.region}", flush=True)
    serve(config)
    return 0


def _reach(args) -> int:
    from vpclocal.reach_cli import run

    return run(args)


def _version() -> str:
    from vpclocal import __version__

    return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vpclocal", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="serve the local cloud in the foreground")
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port", type=int, default=4566)
    up.add_argument("--data-dir", default=".vpclocal")
    up.add_argument("--fabric", action=argparse.BooleanOptionalAction, default=None,
                    help="enforce the VPC model in Linux namespaces (the default; "
                    "--no-fabric or VPCLOCAL_FABRIC=0 turns it off)")
    up.set_defaults(func=_up)
    reach = sub.add_parser(
        "reach", help="can SOURCE reach DESTINATION? hop by hop, with the fix if not",
        description="SOURCE and DESTINATION: resource ids or ARNs (eni-, nat-, igw-, vpce-), "
        "function:NAME, rds:ID, proxy:NAME, cache:ID, IP addresses or hostnames. "
        "Exit status 0 reachable, 1 blocked, 2 error.")
    reach.add_argument("source")
    reach.add_argument("destination")
    reach.add_argument("--port", type=int)
    reach.add_argument("--protocol", default="tcp", choices=["tcp", "udp", "icmp", "-1"])
    reach.add_argument("--json", action="store_true", help="print the analysis as JSON")
    reach.add_argument("--endpoint", help="server URL (default $AWS_ENDPOINT_URL or :4566)")
    reach.add_argument("--region", help="default $AWS_DEFAULT_REGION or the server's")
    reach.set_defaults(func=_reach)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
