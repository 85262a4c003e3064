"""Name resolution for loopback only: tests and the Airflow processes they start never query DNS off the machine.

Media links such as ``https://reports.example.com/...`` then fail to resolve at once, as offline,
so the preflight reports them unreachable (a warning) without a query leaving the machine.

With ``LIPACHAT_NETWORK_LOG`` set to a file, each process started this way also appends to it
one JSON line per name lookup (refused ones included) and per outgoing TCP/UDP connection, so a
test can show what a whole tree of processes asked the network for.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from airflow_provider_lipachat.gateway.net import is_loopback

_resolve = socket.getaddrinfo
#: The file each process appends its network record to (one JSON object a line), when set.
NETWORK_LOG_ENV = "LIPACHAT_NETWORK_LOG"
#: The audit event a refused lookup raises, so the record shows it beside the lookups that went through.
REFUSED_EVENT = "lipachat.refused_lookup"
#: Audit events of a name lookup, and which argument holds the name asked for.
LOOKUP_EVENTS = {
    "socket.getaddrinfo": 0,
    "socket.gethostbyname": 0,
    "socket.gethostbyaddr": 0,
    "socket.getnameinfo": 0,
    REFUSED_EVENT: 0,
}
CONNECT_EVENTS = frozenset({"socket.connect", "socket.sendto"})


def loopback_only(host: Any, *args: Any, **kwargs: Any) -> Any:
    """``socket.getaddrinfo`` for loopback names; any other name fails as unknown."""
    name = host.decode() if isinstance(host, bytes) else host
    if name is not None and not is_loopback(name):
        sys.audit(REFUSED_EVENT, name)
        raise socket.gaierror(socket.EAI_NONAME, f"{name}: tests resolve loopback names only")
    return _resolve(host, *args, **kwargs)


def network_recorder(log: Path) -> Callable[[str, tuple[Any, ...]], None]:
    """An audit hook appending each lookup and each IP connection to ``log`` as ``{"event", "host", "pid"}``."""

    def record(event: str, args: tuple[Any, ...]) -> None:
        if event in LOOKUP_EVENTS:
            host = args[LOOKUP_EVENTS[event]]
            if isinstance(host, tuple):  # getnameinfo's (address, port)
                host = host[0]
        elif event in CONNECT_EVENTS:
            address = args[-1]
            if not isinstance(address, tuple):  # a Unix socket's path: not the network
                return
            host = address[0]
        else:
            return
        line = {"event": event, "host": host.decode() if isinstance(host, bytes) else str(host), "pid": os.getpid()}
        with log.open("a") as out:
            out.write(json.dumps(line) + "\n")

    return record


def install() -> None:
    """Resolve loopback names only in this process, for good (the Airflow processes of end-to-end tests)."""
    socket.getaddrinfo = loopback_only
    log = os.environ.get(NETWORK_LOG_ENV)
    if log:
        sys.addaudithook(network_recorder(Path(log)))
