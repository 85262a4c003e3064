"""Checkpoints: incremental chunks under the store's size policy, read back whole, safe across a crash mid-save."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_lipachat.utils.checkpoint import CHUNK_KEY, INDEX_KEY, MAX_CHUNK_BYTES, Checkpoint, Sent


class DictStore:
    """The task state store's get/set over a dict, JSON round-tripped as Airflow stores values.

    A stand-in so a crash between two writes can be staged; the real store is exercised by the
    DAG-run tests (tests/operators/test_long_fan_outs.py) and the crash test under a scheduler.
    """

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.writes: list[tuple[str, int]] = []

    def get(self, key: str, default: Any = None) -> Any:
        return json.loads(self.values[key]) if key in self.values else default

    def set(self, key: str, value: Any) -> None:
        self.values[key] = json.dumps(value)
        self.writes.append((key, len(self.values[key])))


def deliveries(start: int, count: int) -> dict[str, Sent]:
    return {f"message-{n:06d}": Sent(f"wamid.HBgM{n:032d}", "media") for n in range(start, start + count)}


def test_a_save_writes_only_what_is_new_in_chunks_under_the_size_policy() -> None:
    store = DictStore()
    checkpoint = Checkpoint.load(store)
    checkpoint.save(deliveries(0, 3000))
    first_writes = len(store.writes)
    added, written = checkpoint.save(deliveries(0, 3500))  # 3000 already saved, 500 new

    assert added == 500
    later = store.writes[first_writes:]
    assert sum(size for _, size in later) == written < 60_000  # what 500 cost, not 3500
    assert all(size <= MAX_CHUNK_BYTES for _, size in store.writes)
    assert first_writes > 2  # 3000 deliveries needed several chunks, then the index
    assert Checkpoint.load(store).recorded == deliveries(0, 3500)


class FailingIndexStore(DictStore):
    def set(self, key: str, value: Any) -> None:
        if key == INDEX_KEY and self.get(INDEX_KEY) is not None:
            raise ConnectionError("the task died between writing a chunk and the index")
        super().set(key, value)


def test_a_crash_between_chunk_and_index_leaves_the_last_complete_save() -> None:
    store = FailingIndexStore()
    checkpoint = Checkpoint.load(store)
    checkpoint.save(deliveries(0, 10))
    with pytest.raises(ConnectionError):
        checkpoint.save(deliveries(10, 10))
    assert CHUNK_KEY.format(number=1) in store.values  # written, but not indexed

    retry = Checkpoint.load(store)
    assert retry.recorded == deliveries(0, 10)
    assert retry.chunks == 1  # the next save overwrites the unindexed chunk


def test_without_a_store_it_remembers_within_the_try_and_writes_nothing() -> None:
    checkpoint = Checkpoint.load(None)
    assert checkpoint.save(deliveries(0, 5)) == (5, 0)
    assert checkpoint.get("message-000004") == Sent("wamid.HBgM" + "4".rjust(32, "0"), "media")
