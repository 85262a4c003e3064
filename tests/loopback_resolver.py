"""Name resolution for loopback only: tests and the Airflow processes they start never query DNS off the machine.

Media links such as ``https://reports.example.com/...`` then fail to resolve at once, as offline,
so the preflight reports them unreachable (a warning) without a query leaving the machine.
"""

from __future__ import annotations

import socket
from typing import Any

from airflow_provider_lipachat.gateway.net import is_loopback

_resolve = socket.getaddrinfo


def loopback_only(host: Any, *args: Any, **kwargs: Any) -> Any:
    """``socket.getaddrinfo`` for loopback names; any other name fails as unknown."""
    name = host.decode() if isinstance(host, bytes) else host
    if name is not None and not is_loopback(name):
        raise socket.gaierror(socket.EAI_NONAME, f"{name}: tests resolve loopback names only")
    return _resolve(host, *args, **kwargs)


def install() -> None:
    """Resolve loopback names only in this process, for good (the Airflow processes of end-to-end tests)."""
    socket.getaddrinfo = loopback_only
