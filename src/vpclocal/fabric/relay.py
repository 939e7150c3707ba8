"""Copy one accepted connection to a listener the server can reach (both directions).

`pipe` connects to the listener itself; `splice` takes an upstream already open (internet.py
counts it first). Either side may be TLS: a stream that cannot half-close is closed instead.
"""

from __future__ import annotations

import asyncio
import contextlib


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str,
               port: int) -> None:
    """Connect to host:port and copy bytes both ways until both sides are done; a side
    that cannot connect or breaks closes the other."""
    try:
        up_reader, up_writer = await asyncio.open_connection(host, port)
    except OSError:
        writer.close()
        return
    await splice(reader, writer, up_reader, up_writer)


async def splice(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 up_reader: asyncio.StreamReader, up_writer: asyncio.StreamWriter) -> None:
    """Copy bytes both ways between a connection and its open upstream until both sides are
    done (or one breaks, which closes the other); then close both."""
    ends = (writer, up_writer)
    try:
        await asyncio.gather(_copy(reader, up_writer, ends), _copy(up_reader, writer, ends))
    finally:
        for end in ends:
            end.close()


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
    except OSError:  # ConnectionError and ssl.SSLError too
        for end in ends:  # one side is gone: so is the other
            with contextlib.suppress(Exception):
                end.close()
