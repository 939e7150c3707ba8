"""Public hosts the user declares on the simulated internet (`vpclocal internet add`).

Beside the documentation domains and the AWS endpoints that names.public_address knows out of
the box, a user declares the names their code calls (`api.stripe.com`), each at an address of
the public pool (198.51.100.0/24, 203.0.113.0/27; by default the name's stable address). They
live in the store (scope "global", kind "internet_hosts", id = the lower-case name, record
{"Name", "Address"}) and can also be listed in the config file read at start:

    [internet]
    hosts = ["api.stripe.com", {name = "hooks.slack.com", address = "203.0.113.7"}]

    declared_hosts(store.view(region))   # {"api.stripe.com": "198.51.100.x"}, for
                                         # names.public_address(name, declared)
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from pathlib import Path

from .names import stable_address

SCOPE = "global"
KIND = "internet_hosts"
POOLS = (ipaddress.IPv4Network("198.51.100.0/24"), ipaddress.IPv4Network("203.0.113.0/27"))
RESERVED_DOMAINS = ("amazonaws.com",)  # answered by the AWS public endpoints already
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
CONFIG_NAME = "vpclocal.toml"


class HostError(ValueError):
    """A declared host that cannot be: the message says why, for the user."""


def check_name(name: str) -> str:
    """The canonical (lower-case, no trailing dot) form of a public host name."""
    if not isinstance(name, str):
        raise HostError(f"a host name must be a string, not {name!r}")
    canonical = name.strip().lower().removesuffix(".")
    labels = canonical.split(".")
    if (not canonical or len(canonical) > 253 or len(labels) < 2
            or not all(_LABEL.fullmatch(label) for label in labels)
            or labels[-1].isdigit()):
        raise HostError(f"'{name}' is not a public host name (like api.example.com: two or "
                        "more dot-separated labels of letters, digits and hyphens)")
    for domain in RESERVED_DOMAINS:
        if canonical == domain or canonical.endswith("." + domain):
            raise HostError(f"'{name}' is under {domain}, whose names the simulated internet "
                            "answers already as the AWS public endpoints")
    return canonical


def check_address(address: str) -> str:
    """A host address of the public pool (198.51.100.0/24, 203.0.113.0/27)."""
    try:
        ip = ipaddress.IPv4Address(str(address).strip())
    except ValueError:
        raise HostError(f"'{address}' is not an IPv4 address") from None
    for pool in POOLS:
        if ip in pool and ip not in (pool.network_address, pool.broadcast_address):
            return str(ip)
    raise HostError(f"{address} is outside the simulated internet's host addresses: use one "
                    "of 198.51.100.1-198.51.100.254 or 203.0.113.1-203.0.113.30 (the rest of "
                    "203.0.113.0/24 is kept for AWS endpoints)")


def record(name: str, address: str | None = None) -> dict:
    """The store record of a declared host, checked (the address defaults to the name's
    stable address)."""
    name = check_name(name)
    return {"Name": name, "Address": check_address(address) if address else stable_address(name)}


def declared_hosts(view) -> dict[str, str]:
    """{lower-case name: address} of every declared host, from any store view."""
    return {rid: r["Address"] for rid, r in view.all(KIND, scope=SCOPE).items()}


def put(tx, host: dict) -> dict:
    return tx.put(KIND, host["Name"], host, scope=SCOPE)


def remove(tx, name: str) -> dict | None:
    """Forget a declared host; its record, or None if there was none."""
    name = name.strip().lower().removesuffix(".")
    found = tx.get(KIND, name, scope=SCOPE)
    if found is not None:
        tx.delete(KIND, name, scope=SCOPE)
    return found


def load_config(path: str | Path) -> list[dict]:
    """The hosts listed in a config file's [internet] table, checked (HostError says which
    entry of which file is wrong)."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            config = tomllib.load(f)
    except OSError as exc:
        raise HostError(f"cannot read {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise HostError(f"{path} is not valid TOML: {exc}") from None
    internet = config.get("internet", {})
    if not isinstance(internet, dict):
        raise HostError(f"{path}: [internet] must be a table")
    unknown = set(internet) - {"hosts"}
    if unknown:
        raise HostError(f"{path}: unknown key(s) in [internet]: {', '.join(sorted(unknown))} "
                        "(known: hosts)")
    entries = internet.get("hosts", [])
    if not isinstance(entries, list):
        raise HostError(f"{path}: internet.hosts must be a list of names or "
                        "{name = ..., address = ...} tables")
    hosts = []
    for index, entry in enumerate(entries):
        where = f"{path}: internet.hosts[{index}]"
        if isinstance(entry, dict):
            extra = set(entry) - {"name", "address"}
            if extra or "name" not in entry:
                raise HostError(f"{where}: a table needs `name` and may have `address`, "
                                f"nothing else (got {', '.join(sorted(entry)) or 'nothing'})")
            name, address = entry["name"], entry.get("address")
        else:
            name, address = entry, None
        try:
            hosts.append(record(name, address))
        except HostError as exc:
            raise HostError(f"{where}: {exc}") from None
    return hosts
