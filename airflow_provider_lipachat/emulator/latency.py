"""How long the emulator takes to answer a gateway request: a fixed time, or a range each request draws from.

A real gateway answers in hundreds of milliseconds, never twice in quite the same time; these
machines cannot add latency in the network (no ``netem`` qdisc), so the emulator adds it itself.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: The longest latency the emulator takes, in seconds: enough for any gateway, short enough for a test.
MAX_LATENCY = 10.0
#: What ``--latency``, ``Emulator(latency=...)`` and ``POST /_emulator/latency`` take.
LATENCY_FORMS = "seconds (0.3) or a range of seconds (0.2-0.6 on the command line, (0.2, 0.6) or [0.2, 0.6] elsewhere)"


class LatencySpecError(ValueError):
    """A latency the emulator cannot take; the message says what was given and what it expects."""


def _seconds(value: object, given: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise LatencySpecError(f"latency={given!r}: expected {LATENCY_FORMS}")
    try:
        number = float(value)
    except ValueError:
        raise LatencySpecError(f"latency={given!r}: expected {LATENCY_FORMS}") from None
    if not (math.isfinite(number) and 0 <= number <= MAX_LATENCY):
        raise LatencySpecError(f"latency={given!r}: expected seconds from 0 to {MAX_LATENCY:g}")
    return number


def _reads_as_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class Latency:
    """Each answer waits a time drawn uniformly from ``[low, high]`` seconds, one draw per request.

    ``low == high`` is a fixed latency; ``Latency()`` is none at all.
    """

    low: float = 0.0
    high: float = 0.0

    @classmethod
    def parse(cls, value: object) -> Latency:
        """A latency from a number, a ``(low, high)`` pair, or a flag's text (``"0.3"``, ``"0.2-0.6"``)."""
        if isinstance(value, Latency):
            return value
        parts: object = value
        if isinstance(value, str) and "-" in value and not _reads_as_float(value):  # "0.2-0.6" (while 1e-3 is a number)
            parts = value.split("-", 1)
        if isinstance(parts, Sequence) and not isinstance(parts, str):
            if len(parts) != 2:
                raise LatencySpecError(f"latency={value!r}: a range is two numbers, low and high")
            low, high = (_seconds(part, value) for part in parts)
            if low > high:
                raise LatencySpecError(f"latency={value!r}: the range's low end is above its high end")
            return cls(low, high)
        seconds = _seconds(parts, value)
        return cls(seconds, seconds)

    def __bool__(self) -> bool:
        return self.high > 0

    def draw(self) -> float:
        """The wait for one request: its own uniform draw from the range."""
        return self.low if self.low == self.high else random.uniform(self.low, self.high)

    def to_json(self) -> dict[str, Any]:
        return {"min": self.low, "max": self.high}
