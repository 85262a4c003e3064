"""The emulator's stand-in for WhatsApp's per-sender-number throughput limit, and the arrivals it counts.

WhatsApp Cloud API counts messages per second per business number (80 by default) and refuses
the excess with error 130429 ("Rate limit hit"). Modelled here as a sliding window: a send from
sender S is accepted only if fewer than N sends from S were accepted in the one second ending
now; a refused send is recorded as an arrival but is not a message (no waId, not listed).

How LipaChat passes 130429 on is NOT documented (lipachat-api.md): the answer's shape below
(LipaChat's error envelope carrying WhatsApp's code and wording) and its HTTP status are ASSUMED.

When a send is counted is ASSUMED too: on arrival. The gateway takes a request as it arrives (its
place in the sender's window, its arrival time and ``received_at``, and, if accepted, the message
itself), then takes the emulator's latency to answer, as LipaChat would while relaying to Meta; the
latency is its processing time, so the window sees sends as they reach the gateway, not as their
answers leave. A refusal waits the same latency (Meta's refusal comes back the same way).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_lipachat.gateway.answers import THROUGHPUT_ERROR_CODE

#: WhatsApp counts sends per second.
WINDOW = 1.0
#: HTTP statuses the emulator can answer a throughput refusal with; which one LipaChat uses is unknown.
THROUGHPUT_STATUSES = (400, 429, 200)
#: 400: the status the emulator gives every LipaChat error envelope (the 24-hour window, field checks),
#: and the one WhatsApp Cloud API itself answers 130429 with (Graph API errors are HTTP 400).
DEFAULT_THROUGHPUT_STATUS = 400
THROUGHPUT_TITLE = "Rate limit hit"
THROUGHPUT_DETAILS = "Cloud API message throughput has been reached."


class ThroughputSpecError(ValueError):
    """A throughput setting the emulator cannot follow; the message names the field and why."""


def busiest_window(times: Iterable[float], width: float = WINDOW) -> int:
    """The most moments that fall in any one window ``[t, t + width)``: 0 for none.

    Pure, for tests and benchmarks: give it the accepted arrivals' monotonic times to learn the
    highest number of sends the gateway accepted in any one second.
    """
    ordered = sorted(times)
    best, left = 0, 0
    for right, moment in enumerate(ordered):
        while moment - ordered[left] >= width:
            left += 1
        best = max(best, right - left + 1)
    return best


@dataclass(frozen=True)
class Arrival:
    """One send that reached the sender's throughput budget: when it came and whether it was accepted.

    ``at`` is ``time.monotonic()`` (on Linux comparable across processes of one machine), ``wall``
    is ``time.time()``; both are taken under the emulator's lock when the send is judged.
    """

    sender: str
    to: str
    message_id: str
    route: str
    at: float
    wall: float
    accepted: bool

    @property
    def outcome(self) -> str:
        return "accepted" if self.accepted else "throttled"

    def to_json(self) -> dict[str, Any]:
        return {
            "sender": self.sender,
            "to": self.to,
            "messageId": self.message_id,
            "route": self.route,
            "monotonic": self.at,
            "time": self.wall,
            "accepted": self.accepted,
            "outcome": self.outcome,
        }


@dataclass(frozen=True)
class ThroughputLimit:
    """At most ``per_second`` accepted sends per sender number in any sliding window.

    For 1 or more the window is one second holding ``floor(per_second)`` sends (WhatsApp's limits
    are whole numbers); below 1 it stretches to ``1 / per_second`` seconds holding one send, so 0.5
    means one send every two seconds.
    """

    per_second: float
    http_status: int = DEFAULT_THROUGHPUT_STATUS

    @classmethod
    def parse(cls, per_second: object, http_status: object = DEFAULT_THROUGHPUT_STATUS) -> ThroughputLimit:
        """Build a limit from a flag or JSON value, refusing what is not a positive number."""
        if isinstance(per_second, bool) or not isinstance(per_second, int | float | str):
            raise ThroughputSpecError(f"per_second={per_second!r}: expected messages per second, a number above 0")
        try:
            number = float(per_second)
        except ValueError:
            raise ThroughputSpecError(
                f"per_second={per_second!r}: expected messages per second, a number above 0"
            ) from None
        if not (math.isfinite(number) and number > 0):
            raise ThroughputSpecError(f"per_second={per_second!r}: expected messages per second, a number above 0")
        if http_status not in THROUGHPUT_STATUSES or isinstance(http_status, bool):
            raise ThroughputSpecError(
                f"http_status={http_status!r}: expected one of {', '.join(map(str, THROUGHPUT_STATUSES))}"
            )
        assert isinstance(http_status, int)
        return cls(per_second=number, http_status=http_status)

    @property
    def window(self) -> float:
        return WINDOW if self.per_second >= 1 else 1 / self.per_second

    @property
    def budget(self) -> int:
        """Sends accepted per window."""
        return max(1, math.floor(self.per_second))

    def admits(self, accepted: Sequence[float], now: float) -> bool:
        """Whether a send at ``now`` fits: fewer than ``budget`` of ``accepted`` in the window ending now.

        ``accepted`` is one sender's accepted moments, oldest first; a binary search finds the window's
        start, so judging a send costs the same at 1,000 sends a second as at one.
        """
        in_window = len(accepted) - bisect.bisect_right(accepted, now - self.window)
        return in_window < self.budget

    def to_json(self) -> dict[str, Any]:
        return {
            "per_second": self.per_second,
            "window": self.window,
            "budget": self.budget,
            "http_status": self.http_status,
        }


def throughput_error_envelope(timestamp: str) -> dict[str, Any]:
    """WhatsApp's 130429 in LipaChat's error envelope, as the emulator wraps WhatsApp-side refusals.

    ASSUMED shape, LipaChat documents none: ``status: "error"`` with Meta's message in ``message``
    and Meta's error object (code, title, message, details) as the one item of ``errors``.
    """
    message = f"(#{THROUGHPUT_ERROR_CODE}) {THROUGHPUT_TITLE}"
    return {
        "timestamp": timestamp,
        "data": None,
        "status": "error",
        "message": f"{message}: {THROUGHPUT_DETAILS}",
        "errors": [
            {
                "code": THROUGHPUT_ERROR_CODE,
                "title": THROUGHPUT_TITLE,
                "message": message,
                "error_data": {"details": THROUGHPUT_DETAILS},
            }
        ],
    }
