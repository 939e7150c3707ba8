"""Copy one accepted connection to a listener the server can reach (both directions)."""

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
    ends = (writer, up_writer)
    await asyncio.gather(_copy(reader, up_writer, ends), _copy(up_reader, writer, ends))
    for end in ends:
        end.close()


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, ends) -> None:
    try:
        while data := await reader.read(1 << 16):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except OSError:
        for end in ends:  # one side is gone: so is the other
            with contextlib.suppress(Exception):
                end.close()
