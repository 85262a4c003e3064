"""Network address rules shared by the hook and the emulator (no Airflow, no requests)."""

from __future__ import annotations

import ipaddress


def is_loopback(hostname: str | None) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if hostname is None:
        return False
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname.strip("[]")).is_loopback
    except ValueError:
        return False


#: The port a scheme implies: a URL that names it explicitly is the same gateway as one that leaves it out.
DEFAULT_PORTS = {"https": 443, "http": 80}


def canonical_host_port(scheme: str, hostname: str | None, port: int | None) -> str:
    """``host[:port]`` spelled one way: lower-case host (IPv6 in brackets), no port when it is the scheme's default."""
    host = (hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    return host if port is None or port == DEFAULT_PORTS.get(scheme.lower()) else f"{host}:{port}"
