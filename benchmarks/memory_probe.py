"""One measurement for ``run.py``: peak RSS of a fan-out (``fanout``) or of its inputs alone (``baseline``).

Prints: peak RSS in MiB, the result mapping's size in MiB, and (fanout) the seconds the sends took.
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="lipachat-bench-"))

from common import recipients, use_lipachat_connection

from airflow_provider_lipachat.fanout import send_to_all
from airflow_provider_lipachat.hooks.lipachat import LipaChatHook


def mapping_mib(mapping: dict[str, str]) -> float:
    size = sys.getsizeof(mapping) + sum(sys.getsizeof(k) + sys.getsizeof(v) for k, v in mapping.items())
    return size / 2**20


def main(mode: str, base_url: str, count: int) -> None:
    use_lipachat_connection(base_url)
    hook = LipaChatHook(pool_size=32)
    hook.get_conn()
    numbers = recipients(count, prefix="2548")
    if mode == "baseline":
        mapping = {n: f"wamid.HBgM{n:0>32}" for n in numbers}
        seconds = 0.0
    else:
        started = time.perf_counter()

        def one(n: str) -> str:
            return hook.send_media(to=n, media_url="https://x.example/a.pdf", message_id=f"mem-{n}").wa_id

        result = send_to_all(numbers, count, one, max_concurrency=32)
        seconds = time.perf_counter() - started
        assert not result.failed and len(result.delivered) == count
        mapping = result.delivered
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{peak:.1f} {mapping_mib(mapping):.2f} {seconds:.1f}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
