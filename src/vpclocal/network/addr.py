"""IPv4 addresses and CIDR blocks as integers.

The engine compares addresses millions of times (the reachability matrix), so an address is a
plain int and a CIDR block a (network, mask, prefix length) triple. Parsing is cached.
"""

from __future__ import annotations

import socket
import struct
from functools import lru_cache

ALL_ONES = 0xFFFFFFFF

_unpack = struct.Struct("!I").unpack


class AddressError(ValueError):
    """A string that is not an IPv4 address or CIDR block."""


@lru_cache(maxsize=65536)
def ip(text: str) -> int:
    """'10.0.1.5' -> int. Raises AddressError."""
    try:
        packed = socket.inet_aton(text)
    except (OSError, TypeError) as exc:
        raise AddressError(f"not an IPv4 address: {text!r}") from exc
    if text.count(".") != 3:  # inet_aton accepts '10.1' and friends; AWS does not
        raise AddressError(f"not an IPv4 address: {text!r}")
    return _unpack(packed)[0]


def is_ip(text: str) -> bool:
    try:
        ip(text)
    except AddressError:
        return False
    return True


def ip_str(value: int) -> str:
    return socket.inet_ntoa(value.to_bytes(4, "big"))


def mask_of(plen: int) -> int:
    return (ALL_ONES << (32 - plen)) & ALL_ONES


@lru_cache(maxsize=65536)
def cidr(text: str) -> tuple[int, int, int]:
    """'10.0.0.0/16' -> (network, mask, prefix length); host bits are cleared like AWS does."""
    addr, sep, plen_text = text.partition("/")
    if not sep:
        plen = 32
    else:
        try:
            plen = int(plen_text)
        except ValueError as exc:
            raise AddressError(f"not an IPv4 CIDR block: {text!r}") from exc
        if not 0 <= plen <= 32:
            raise AddressError(f"not an IPv4 CIDR block: {text!r}")
    m = mask_of(plen)
    return ip(addr) & m, m, plen


def cidr_str(net: int, plen: int) -> str:
    return f"{ip_str(net)}/{plen}"


def in_cidr(address: int, block: tuple[int, int, int]) -> bool:
    return address & block[1] == block[0]


def cidr_range(block: tuple[int, int, int]) -> tuple[int, int]:
    """First and last address of a block."""
    net, m, _ = block
    return net, net | (~m & ALL_ONES)


# Address space that never appears on the simulated internet (RFC 1918, RFC 6598 shared space,
# loopback, link-local, "this network", multicast and reserved).
_NOT_INTERNET = tuple(
    cidr(c)
    for c in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "224.0.0.0/3",
    )
)
RFC1918 = tuple(cidr(c) for c in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
# Documentation ranges where vpclocal's simulated public hosts live.
SIMULATED_INTERNET = tuple(cidr(c) for c in ("198.51.100.0/24", "203.0.113.0/24"))
# A host on the simulated internet used when a flow starts or ends at "the internet" in general.
DEFAULT_INTERNET_HOST = "198.51.100.10"
# The public address of the Lambda service network (functions without VpcConfig reach the
# internet from it): TEST-NET-1's last host, kept out of the Elastic IP pool.
LAMBDA_SERVICE_PUBLIC_IP = "192.0.2.254"


def is_private(address: int) -> bool:
    """True for addresses that are never routed on the internet."""
    return any(address & m == net for net, m, _ in _NOT_INTERNET)


def non_internet_blocks() -> tuple[tuple[int, int, int], ...]:
    return _NOT_INTERNET
