"""What a send task has delivered, kept across its tries in Airflow's task state store.

Written incrementally: each save stores only what is new since the last one as numbered
chunks, then updates a small index, so a checkpoint's cost grows with what it adds, never with
what was delivered before. A chunk stays under ``MAX_CHUNK_BYTES``, below Airflow's default
``[state_store] max_value_storage_bytes`` (65535), so no write exceeds the store's policy. A crash
between the writes leaves unindexed chunks that the next save overwrites. No Airflow imports: the
store is anything with ``get`` and ``set``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

INDEX_KEY = "lipachat_sent"
CHUNK_KEY = "lipachat_sent.{number}"
MAX_CHUNK_BYTES = 60_000


class StateStore(Protocol):
    """The part of Airflow's ``context["task_state_store"]`` this module uses (JSON values by key)."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def set(self, key: str, value: Any) -> None: ...


@dataclass(frozen=True, slots=True)
class Sent:
    """One recipient's delivery: the gateway's waId and which kind of message carried it.

    ``replayed``: the gateway answered this try's send as already sent (``SendResult.replayed``);
    it describes one answer, so it is neither stored in the checkpoint nor compared.
    """

    wa_id: str
    path: str
    replayed: bool = field(default=False, compare=False)


@dataclass
class Checkpoint:
    """Deliveries by message id, loaded from a store at the start of a try and saved as they happen.

    Without a store (Airflow before 3.3) it remembers nothing across tries and saves nothing; the
    gateway's deduplication by message id is then what keeps a retry from sending twice.
    """

    store: StateStore | None
    recorded: dict[str, Sent] = field(default_factory=dict)
    chunks: int = 0
    bytes_written: int = 0
    saves: int = 0

    @classmethod
    def load(cls, store: StateStore | None) -> Checkpoint:
        checkpoint = cls(store)
        if store is None:
            return checkpoint
        index = store.get(INDEX_KEY)
        if isinstance(index, dict) and "chunks" not in index:  # written whole by releases before chunks
            checkpoint.recorded = {message_id: Sent(*value) for message_id, value in index.items()}
            index = None
        chunks = index.get("chunks", 0) if isinstance(index, dict) else 0
        for number in range(chunks):
            for message_id, (wa_id, path) in (store.get(CHUNK_KEY.format(number=number)) or {}).items():
                checkpoint.recorded[message_id] = Sent(wa_id, path)
        checkpoint.chunks = chunks
        return checkpoint

    def get(self, message_id: str) -> Sent | None:
        return self.recorded.get(message_id)

    def save(self, fresh: Mapping[str, Sent]) -> tuple[int, int]:
        """Store what in ``fresh`` is not stored yet, as new chunks; returns (deliveries added, bytes written)."""
        new = {message_id: sent for message_id, sent in fresh.items() if self.recorded.get(message_id) != sent}
        self.recorded.update(new)
        if self.store is None or not new:
            return len(new), 0
        written = 0
        for chunk in _chunks(new):
            self.store.set(CHUNK_KEY.format(number=self.chunks), chunk)
            self.chunks += 1
            written += len(json.dumps(chunk))
        index = {"chunks": self.chunks}
        self.store.set(INDEX_KEY, index)
        written += len(json.dumps(index))
        self.bytes_written += written
        self.saves += 1
        return len(new), written


def _chunks(new: Mapping[str, Sent]) -> Iterator[dict[str, list[str]]]:
    """``new`` as JSON-ready chunks, each under ``MAX_CHUNK_BYTES`` once serialised."""
    chunk: dict[str, list[str]] = {}
    size = 2  # the braces
    for message_id, sent in new.items():
        entry = len(json.dumps(message_id)) + len(json.dumps([sent.wa_id, sent.path])) + 4  # ': ' and ', '

        if chunk and size + entry > MAX_CHUNK_BYTES:
            yield chunk
            chunk, size = {}, 2
        chunk[message_id] = [sent.wa_id, sent.path]
        size += entry
    if chunk:
        yield chunk
