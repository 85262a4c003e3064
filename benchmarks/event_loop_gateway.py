"""A stand-in gateway on one event loop: the emulator's answers to sends, for thousands of connections at once.

The emulator answers each connection on a thread of its own; at 1,000 sends a second a second away that
is over 1,000 threads, and on a 2-core machine it falls behind (``latency.py`` measures it in the same
run). This server gives the same answers from the same state (``EmulatorState``: the throughput limit
counts each send on arrival, 130429 above it; ``answer_send``: the key, the fields, the answer) on one
aiohttp event loop, the latency awaited rather than slept on a thread. It serves the send routes and the
two control routes the benchmarks use (``POST /_emulator/reset``, ``GET /_emulator/arrivals``); nothing
else (no faults, no message list). Its garbage collector is off. Loopback only.
Usage: python benchmarks/event_loop_gateway.py --api-key KEY [--latency SECONDS|MIN-MAX] [--throughput N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json

from aiohttp import web

from airflow_provider_lipachat.emulator.latency import Latency
from airflow_provider_lipachat.emulator.server import ARRIVALS_PATH, RESET_PATH, SEND_ROUTES, answer_send
from airflow_provider_lipachat.emulator.state import EmulatorState, gateway_timestamp
from airflow_provider_lipachat.emulator.throughput import ThroughputLimit

#: Connections waiting to be accepted: a task opening a thousand at once must not be refused.
BACKLOG = 4096


def application(state: EmulatorState, latency: Latency) -> web.Application:
    """The send routes answered as the emulator answers them, after ``latency``; reset and arrivals."""

    async def send(request: web.Request) -> web.Response:
        """Judged and counted as it arrives, answered after the latency: what the emulator's handler does."""
        received_at = gateway_timestamp()
        payload = None
        with contextlib.suppress(ValueError):  # malformed JSON is answered by answer_send
            payload = json.loads(await request.read())
        status, answer, outcome = answer_send(state, request.headers.get("apiKey"), request.path, payload)
        state.record_request(request.method, request.path, payload, outcome, received_at)
        wait = latency.draw()
        if wait:
            await asyncio.sleep(wait)
        return web.json_response(answer, status=status)

    async def arrivals(request: web.Request) -> web.Response:
        """The sends that reached a sender's budget (``?sender=``), as ``GET /_emulator/arrivals`` answers."""
        return web.json_response([a.to_json() for a in state.arrivals_of(request.query.get("sender"))])

    async def reset(request: web.Request) -> web.Response:
        """Forget what was received, as ``POST /_emulator/reset`` does; the limit stays."""
        state.reset()
        return web.json_response({"reset": True})

    app = web.Application()
    for path in SEND_ROUTES:
        app.router.add_post(path, send)
    app.router.add_get(ARRIVALS_PATH, arrivals)
    app.router.add_post(RESET_PATH, reset)
    return app


async def serve(app: web.Application) -> None:
    """Serve on a free loopback port, print its URL as the emulator does, and run until the process is stopped."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, backlog=BACKLOG).start()
    host, port = runner.addresses[0][:2]
    print(f"LipaChat stand-in gateway listening on http://{host}:{port}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--api-key", required=True, help="the key the gateway accepts")
    parser.add_argument("--latency", default="0", help="seconds each answer waits, or a range MIN-MAX")
    parser.add_argument("--throughput", type=float, default=None, help="sends accepted per second per sender")
    args = parser.parse_args()
    limit = None if args.throughput is None else ThroughputLimit.parse(args.throughput)
    state = EmulatorState(api_key=args.api_key, throughput=limit)
    # A collection pausing the loop would stamp the sends that came meanwhile as one bunch, over the limit. Off
    # for the process's life: 10,000 sends leave its memory where it was (78 MiB), nothing it keeps is a cycle.
    gc.disable()
    asyncio.run(serve(application(state, Latency.parse(args.latency))))
