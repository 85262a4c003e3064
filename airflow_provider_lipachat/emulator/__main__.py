"""``python -m airflow_provider_lipachat.emulator``: serve the gateway emulator on loopback until stopped."""

from __future__ import annotations

import argparse
import signal
import sys
from types import FrameType

from airflow_provider_lipachat.emulator.server import DEFAULT_API_KEY, Emulator
from airflow_provider_lipachat.emulator.throughput import DEFAULT_THROUGHPUT_STATUS, THROUGHPUT_STATUSES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m airflow_provider_lipachat.emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    parser.add_argument("--api-key", default=DEFAULT_API_KEY, help="the key the emulator accepts")
    parser.add_argument(
        "--enforce-session-window",
        action="store_true",
        help="refuse free-form sends to numbers without an open 24-hour session (POST /_emulator/sessions/NUMBER)",
    )
    parser.add_argument(
        "--latency",
        default="0",
        metavar="SECONDS|MIN-MAX",
        help="seconds every gateway answer waits (0.3), or a range each answer draws its own wait from, "
        "uniformly (0.2-0.6); sends are counted as they arrive and answered after the wait (POST /_emulator/latency "
        "changes it)",
    )
    parser.add_argument(
        "--throughput",
        type=float,
        default=None,
        metavar="N",
        help="accept at most N sends per second per sender number (any number above 0), answering the excess "
        "with WhatsApp's error 130429 (default: no limit; POST /_emulator/throughput changes it)",
    )
    parser.add_argument(
        "--throughput-status",
        type=int,
        default=DEFAULT_THROUGHPUT_STATUS,
        choices=THROUGHPUT_STATUSES,
        help=f"HTTP status of a 130429 answer, unknown for LipaChat (default {DEFAULT_THROUGHPUT_STATUS})",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    try:
        emulator = Emulator(
            host=args.host,
            port=args.port,
            api_key=args.api_key,
            enforce_session_window=args.enforce_session_window,
            latency=args.latency,
            throughput=args.throughput,
            throughput_status=args.throughput_status,
            verbose=args.verbose,
        )
    except (OSError, ValueError) as err:
        print(f"lipachat emulator: {err}", file=sys.stderr)
        return 2

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    print(f"LipaChat emulator listening on {emulator.base_url}", flush=True)
    try:
        emulator.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
