"""Connections a process is still trying to open: its TCP sockets in SYN-SENT.

A connection the network drops stays in SYN-SENT until the client gives up, while one that is
refused or accepted leaves it within a round trip: a socket seen there after a few hundred
milliseconds is, almost always, a dropped SYN. Read from /proc: the process's namespace's TCP
table (/proc/<pid>/net/tcp), narrowed to the sockets among the environment's processes' descriptors
(execution environments of one function share their ENI's namespace).
"""

from __future__ import annotations

import os
import socket
import struct

SYN_SENT = "02"


def opening(pids: list[int]) -> set[tuple[str, int]]:
    """(remote address, port) of every connection the processes `pids` (of one network
    namespace) are still opening; empty if they are gone."""
    if not pids:
        return set()
    waiting: dict[str, tuple[str, int]] = {}
    try:
        with open(f"/proc/{pids[0]}/net/tcp") as table:
            next(table)
            for line in table:
                fields = line.split()
                if fields[3] == SYN_SENT:
                    address, port = fields[2].split(":")
                    ip = socket.inet_ntoa(struct.pack("<I", int(address, 16)))
                    waiting[fields[9]] = (ip, int(port, 16))
    except (OSError, StopIteration):
        return set()
    if not waiting:
        return set()
    found = set()
    for pid in pids:
        try:
            descriptors = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in descriptors:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in waiting:
                found.add(waiting[target[8:-1]])
    return found
