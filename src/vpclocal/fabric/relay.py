"""Copy one accepted connection to a listener the server can reach (both directions).

`pipe` connects to the listener itself; `splice` takes an upstream already open (internet.py
counts it first). Either side may be TLS: a stream that cannot half-close is closed instead.

Whatever a relay brings to the server comes from inside the fabric (function code, a host of
the simulated internet), never from the server's own user: `connect` records the local port of
each upstream it opens in FROM_FABRIC while it is open, and the server's own endpoints
(admin.py) refuse requests from those ports.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Origin:
    """Where a relayed connection came from, as its relay saw it."""

    address: str  # the client's address: on the simulated internet (a NAT gateway's Elastic
    # IP, a router's uplink), or in its VPC (through an interface endpoint)
    endpoint: str | None = None  # the interface VPC endpoint it came through
    vpc: str | None = None  # that endpoint's VPC


# local ports of the server-side ends of open relays -> where the connection came from (None
# for a relay that knows nothing of it: an isolated function namespace's own)
FROM_FABRIC: dict[int, Origin | None] = {}


def from_fabric(client: tuple[str, int] | None) -> bool:
    """Did a request's connection (ASGI's `client`) come through a relay?"""
    return client is not None and client[0] == "127.0.0.1" and client[1] in FROM_FABRIC


def origin(client: tuple[str, int] | None) -> Origin | None:
    """Where a relayed request came from, if it came through a relay that knows."""
    return FROM_FABRIC.get(client[1]) if client and from_fabric(client) else None


async def connect(host: str, port: int, came_from: Origin | None = None
                  ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, int]:
    """An upstream connection for a relay, recorded in FROM_FABRIC until splice() ends it."""
    up_reader, up_writer = await asyncio.open_connection(host, port)
    local = up_writer.get_extra_info("sockname")[1]
    FROM_FABRIC[local] = came_from
    return up_reader, up_writer, local


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str,
               port: int) -> None:
    """Connect to host:port and copy bytes both ways until both sides are done; a side
    that cannot connect or breaks closes the other."""
    try:
        up_reader, up_writer, local = await connect(host, port)
    except OSError:
        writer.close()
        return
    await splice(reader, writer, up_reader, up_writer, local)


async def splice(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 up_reader: asyncio.StreamReader, up_writer: asyncio.StreamWriter,
                 local: int | None = None) -> None:
    """Copy bytes both ways between a connection and its open upstream until both sides are
    done (or one breaks, which closes the other); then close both (and forget `local`, the
    upstream's port from connect())."""
    ends = (writer, up_writer)
    try:
        await asyncio.gather(_copy(reader, up_writer, ends), _copy(up_reader, writer, ends))
    finally:
        for end in ends:
            end.close()
        if local is not None:
            FROM_FABRIC.pop(local, None)


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, ends) -> None:
    """Copy one direction; at its end, half-close the other side (close it, over TLS)."""
    try:
        while data := await reader.read(1 << 16):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
        else:
            writer.close()
    # ConnectionError and ssl.SSLError are OSErrors; uvloop raises RuntimeError writing to a
    # transport the other direction has closed already
    except (OSError, RuntimeError):
        for end in ends:  # one side is gone: so is the other
            with contextlib.suppress(Exception):
                end.close()
