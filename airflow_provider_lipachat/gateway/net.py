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
