"""WhatsAppDeliverySensor: wait until sent messages are delivered (or read), in poke, reschedule or deferred mode.

DAG files import this module, so it stays cheap: the hook is imported when the sensor runs.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_lipachat.compat import (
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    BaseSensorOperator,
    PokeReturnValue,
)
from airflow_provider_lipachat.exceptions import LipaChatError, LipaChatValidationError
from airflow_provider_lipachat.gateway.message_list import DEFAULT_MAX_PAGES, TARGETS, MessageStatus, Target
from airflow_provider_lipachat.limits import whole_number
from airflow_provider_lipachat.utils.delivery import decide, describe_waiting, merge_seen, outcome_message, parse_wa_ids
from airflow_provider_lipachat.utils.task_outcome import WHATSAPP_GREEN, raise_as_task_failure

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["WhatsAppDeliverySensor"]

MAX_PAGES_LIMIT = 10_000


class WhatsAppDeliverySensor(BaseSensorOperator):
    """Wait until the messages a send task returned reached ``wait_for`` ("delivered", which READ
    also satisfies, or "read").

    ``wa_ids`` (templated) is what a send operator returns: one waId or the ``{recipient: waId}``
    mapping of a fan-out, as a value or as the text a template renders. A FAILED message fails
    the task naming the masked recipient, the status and WhatsApp's error code, unless at most
    ``max_failed`` messages failed (a count). Returns, and pushes to XCom, the final status of
    every recipient. ``deferrable=True`` waits in the triggerer, one trigger for all messages.
    """

    template_fields: Sequence[str] = ("wa_ids",)
    ui_color = WHATSAPP_GREEN

    def __init__(
        self,
        *,
        wa_ids: Any,
        wait_for: str = "delivered",
        max_failed: int = 0,
        max_pages: int = DEFAULT_MAX_PAGES,
        lipachat_conn_id: str = "lipachat_default",
        deferrable: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if wait_for not in TARGETS:
            raise LipaChatValidationError("wait_for", wait_for, f"expected one of {', '.join(map(repr, TARGETS))}")
        self.wa_ids = wa_ids
        self.wait_for: Target = wait_for  # type: ignore[assignment]  # checked just above
        self.max_failed = whole_number(max_failed, "max_failed", 0, 1_000_000)
        self.max_pages = whole_number(max_pages, "max_pages", 1, MAX_PAGES_LIMIT)
        self.lipachat_conn_id = lipachat_conn_id
        self.deferrable = deferrable
        self._seen: dict[str, MessageStatus] = {}

    def _awaited(self) -> dict[str, str]:
        try:
            return parse_wa_ids(self.wa_ids)
        except LipaChatError as err:
            raise_as_task_failure(err)

    def poke(self, context: Context) -> PokeReturnValue:
        from airflow_provider_lipachat.hooks.lipachat import LipaChatHook

        awaited = self._awaited()
        try:
            found = LipaChatHook(self.lipachat_conn_id).statuses(awaited.values(), max_pages=self.max_pages)
        except LipaChatError as err:
            raise_as_task_failure(err, "could not read delivery status")
        merge_seen(self._seen, found)
        decision = decide(awaited, self.wait_for, self._seen, self.max_failed)
        if decision.state == "failed":
            raise AirflowFailException(outcome_message("failed", decision.failed, [], self.wait_for))
        if decision.done:
            self._log_done(decision.final, len(decision.failed))
        else:
            self.log.info("Waiting for %s from %s", self.wait_for, describe_waiting(decision.waiting))
        return PokeReturnValue(is_done=decision.done, xcom_value=decision.final if decision.done else None)

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            try:
                return super().execute(context)
            except AirflowSensorTimeout as err:  # the base class's timeout names no one: say who is pending
                raise AirflowSensorTimeout(f"{err}; {self._still_waiting(context)}") from err
        try:
            first = self.poke(context)  # no deferral when everything is already there
        except AirflowFailException as err:
            if self.soft_fail:
                raise AirflowSkipException(f"soft_fail: {err}") from err
            raise
        if first.is_done:
            return first.xcom_value
        from airflow_provider_lipachat.triggers.lipachat import WhatsAppDeliveryTrigger

        self.defer(
            trigger=WhatsAppDeliveryTrigger(
                wa_ids=self._awaited(),
                wait_for=self.wait_for,
                deadline=time.time() + float(self.timeout),
                lipachat_conn_id=self.lipachat_conn_id,
                poll_interval=float(self.poke_interval),
                max_failed=self.max_failed,
                max_pages=self.max_pages,
            ),
            method_name="execute_complete",
        )

    def _still_waiting(self, context: Context) -> str:
        """Who has not reached the target, from this try's polls, or one last look (a rescheduled try has none)."""
        if not self._seen:
            try:
                self.poke(context)
            except Exception as err:  # the timeout is the failure to report; a failed last look only annotates it
                return f"pending not known: {type(err).__name__}: {err}"
        decision = decide(self._awaited(), self.wait_for, self._seen, self.max_failed)
        return outcome_message("timeout", decision.failed, decision.waiting, self.wait_for)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Turn the trigger's event into the task's outcome."""
        status = event.get("status")
        if status == "success":
            final = event["final"]
            self._log_done(final, sum(1 for s in final.values() if s.get("status") == "FAILED"))
            return final
        message = str(event.get("message") or f"delivery trigger ended with {status!r}")
        if self.soft_fail:
            raise AirflowSkipException(f"soft_fail: {message}")
        if status == "timeout":
            raise AirflowSensorTimeout(message)
        raise AirflowFailException(message)

    def _log_done(self, final: dict[str, Any], failed: int) -> None:
        accepted = f" ({failed} failed, accepted by max_failed={self.max_failed})" if failed else ""
        self.log.info("All %d message(s) reached %s%s", len(final) - failed, self.wait_for, accepted)
