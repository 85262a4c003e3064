"""The send path now and in another checkout of the provider, measured in one run, interleaved.

Usage: python benchmarks/send_path.py OTHER_TREE [--rounds 5] [--sends 1000] [--recipients 2000]
OTHER_TREE is a checkout of another revision (e.g. ``git archive <rev> | tar -x -C /tmp/old``); both trees
run in fresh processes against one emulator process, alternating round by round, so the machine's load
falls on both alike. Two figures, the medians of the rounds:

- per send: ``LipaChatHook.send_media`` against ``requests.Session.post`` of the same JSON (as ``make bench``);
- fan-out CPU: the process CPU seconds of ``SendWhatsAppMediaOperator.execute`` per 1,000 recipients,
  ``max_concurrency=8``, no preflight, no task state store: what the provider spends around each send.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="lipachat-send-path-"))

MEDIA_URL = "https://reports.example.com/weekly/summary.pdf"


def per_send(sends: int) -> dict[str, float]:
    """Microseconds per send, hook and raw, in interleaved blocks of 50 (this process, the emulator in its own)."""
    from common import hook_and_raw_seconds, recipients

    seconds = hook_and_raw_seconds(os.environ["SEND_PATH_EMULATOR"], recipients(sends), MEDIA_URL, warm_up=True)
    return {kind: spent / sends * 1e6 for kind, spent in seconds.items()}


class _TaskInstance:
    """What the send operators read of a task instance, and XCom kept in memory."""

    dag_id, task_id, run_id, map_index = "bench", "send", "manual__bench", -1

    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


def fan_out_cpu(count: int) -> dict[str, float]:
    """CPU seconds per 1,000 recipients of the media operator's execute, and its wall seconds."""
    from common import recipients

    from airflow_provider_lipachat.operators.lipachat import SendWhatsAppMediaOperator

    operator = SendWhatsAppMediaOperator(
        task_id="send", to=recipients(count), media_url=MEDIA_URL, caption="Weekly summary", preflight=False
    )
    ti = _TaskInstance()
    cpu, wall = time.process_time(), time.perf_counter()
    operator.execute({"ti": ti})  # type: ignore[typeddict-item]
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    assert len(ti.xcom["message_id"]) == count
    return {"cpu_per_1000": cpu / count * 1000, "wall": wall}


def child(mode: str, count: int) -> None:
    result = per_send(count) if mode == "per-send" else fan_out_cpu(count)
    print(json.dumps(result))


def run_child(tree: Path, mode: str, count: int, base_url: str) -> dict[str, float]:
    from common import control

    control(base_url, "/_emulator/reset", "POST")
    env = {**os.environ, "PYTHONPATH": str(tree), "SEND_PATH_EMULATOR": base_url}
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", mode, str(count)],
        capture_output=True, text=True, env=env, cwd=tree, timeout=1800,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("other", nargs="?", type=Path, help="a checkout of another revision")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sends", type=int, default=1000)
    parser.add_argument("--recipients", type=int, default=2000)
    parser.add_argument("--child", nargs=2, metavar=("MODE", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return
    from common import emulator_process, table, use_lipachat_connection

    trees = {"other": args.other.resolve(), "this": HERE.parent}
    ratios: dict[str, list[float]] = {name: [] for name in trees}
    cpu: dict[str, list[float]] = {name: [] for name in trees}
    with emulator_process() as base_url:
        use_lipachat_connection(base_url)
        for round_number in range(args.rounds):
            order = list(trees) if round_number % 2 == 0 else list(reversed(trees))
            for name in order:
                sends = run_child(trees[name], "per-send", args.sends, base_url)
                ratios[name].append(sends["hook"] / sends["raw"])
                cpu[name].append(run_child(trees[name], "fan-out", args.recipients, base_url)["cpu_per_1000"])
    rows = [
        [f"{name} ({trees[name]})", f"{statistics.median(ratios[name]):.3f}",
         " ".join(f"{r:.2f}" for r in ratios[name]), f"{statistics.median(cpu[name]):.2f}",
         " ".join(f"{c:.2f}" for c in cpu[name])]
        for name in trees
    ]  # fmt: skip
    print(
        table(
            f"Send path, {args.rounds} interleaved rounds: per send ({args.sends} sends each, hook / raw) and "
            f"fan-out CPU ({args.recipients} recipients, max_concurrency=8)",
            ["tree", "per-send ratio (median)", "per round", "CPU s per 1,000 (median)", "per round"],
            rows,
        )
    )


if __name__ == "__main__":
    main()
