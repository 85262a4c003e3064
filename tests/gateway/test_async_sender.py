"""The fan-out's sender against the emulator: what counts as a silent gateway."""

from __future__ import annotations

import asyncio

from airflow_provider_lipachat.emulator import Emulator
from airflow_provider_lipachat.gateway.async_sender import AsyncSender
from airflow_provider_lipachat.gateway.messages import TextMessage
from airflow_provider_lipachat.gateway.pacing import AsyncPacer

SENDER = "254110090747"


def text(to: str) -> TextMessage:
    return TextMessage(to=to, message="Partition ready", from_number=SENDER)


def test_a_reset_after_a_long_wait_for_a_slot_is_retried_not_taken_for_a_silent_gateway(
    lipachat_emulator: Emulator,
) -> None:
    pacer = AsyncPacer(0.5)  # slots 2.1 s apart: the second send waits longer than the timeout before it starts

    async def run() -> list[str]:
        async with AsyncSender(lipachat_emulator.base_url, lipachat_emulator.api_key, pacer, timeout=1.0) as sender:
            first = await sender.send(text("254711000001"))
            lipachat_emulator.add_fault("reset")
            second = await sender.send(text("254711000002"))
        return [first.wa_id, second.wa_id]

    wa_ids = asyncio.run(asyncio.wait_for(run(), timeout=30))
    assert len(set(wa_ids)) == 2
    assert sorted(d["to"] for d in lipachat_emulator.deliveries()) == ["254711000001", "254711000002"]
