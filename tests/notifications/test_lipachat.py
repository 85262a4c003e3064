"""LipaChatNotifier: task and DAG callbacks in real DAG runs, and its own rules."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import SimpleNamespace

import pytest

from airflow_provider_lipachat.emulator import Emulator
from airflow_provider_lipachat.exceptions import LipaChatFanOutError, LipaChatValidationError
from airflow_provider_lipachat.notifications.lipachat import LipaChatNotifier, send_lipachat_notification
from tests.redis_server import RedisServer
from tests.support import RENDERED_EMPTY_KEEPS_SOURCE, SANDBOX_SENDER, DagRunOutcome, connection_json, printed

RunDag = Callable[..., DagRunOutcome]


def test_failure_callback_sends_the_rendered_text_once_per_failed_try(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str
) -> None:
    outcome = run_dag(
        """
        import pendulum
        from datetime import timedelta
        from airflow.sdk import DAG, task
        from airflow_provider_lipachat.notifications.lipachat import LipaChatNotifier

        with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
            @task(retries=0, on_failure_callback=LipaChatNotifier(
                to="+254 711 222 333",
                message="{{ ti.task_id }} failed in {{ dag.dag_id }} on {{ ds }} (try {{ ti.try_number }})",
            ))
            def load():
                raise RuntimeError("warehouse unreachable")

            load()
        """,
        logical_date="2024-07-01T00:00:00+00:00",
    )
    assert outcome.task_states == {"load": "failed"}
    [delivery] = lipachat_emulator.deliveries()
    assert delivery["route"] == "text"
    assert delivery["to"] == "254711222333"
    assert delivery["payload"]["message"] == f"load failed in {outcome.dag_id} on 2024-07-01 (try 1)"


def test_dag_success_callback_can_send_an_approved_template(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str
) -> None:
    outcome = run_dag(
        """
        import pendulum
        from airflow.sdk import DAG, task
        from airflow_provider_lipachat.notifications.lipachat import send_lipachat_notification

        with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
                 on_success_callback=send_lipachat_notification(
                     to=["254700000001", "254700000002"], template_name="run_finished",
                     body_placeholders=["{{ dag.dag_id }}", "{{ ds }}"])) as dag:
            @task
            def work():
                return 1

            work()
        """,
        logical_date="2024-07-01T00:00:00+00:00",
    )
    assert outcome.state == "success"
    deliveries = lipachat_emulator.deliveries()
    assert sorted(d["to"] for d in deliveries) == ["254700000001", "254700000002"]
    for delivery in deliveries:
        assert delivery["payload"]["template"]["name"] == "run_finished"
        assert delivery["payload"]["template"]["components"]["body"]["placeholders"] == [outcome.dag_id, "2024-07-01"]


def test_task_success_callback_can_send_media(run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str) -> None:
    run_dag(
        """
        import pendulum
        from airflow.sdk import DAG, task
        from airflow_provider_lipachat.notifications.lipachat import LipaChatNotifier

        with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
            @task(on_success_callback=LipaChatNotifier(
                to="254711222333", media_url="https://charts.example.com/{{ ds }}.png", caption="Done: {{ ds }}"))
            def chart():
                return 1

            chart()
        """,
        logical_date="2024-07-01T00:00:00+00:00",
    )
    [delivery] = lipachat_emulator.deliveries()
    assert delivery["payload"]["mediaType"] == "IMAGE"
    assert delivery["payload"]["mediaUrl"] == "https://charts.example.com/2024-07-01.png"
    assert delivery["payload"]["caption"] == "Done: 2024-07-01"


def fake_context(try_number: int = 1) -> dict[str, object]:
    ti = SimpleNamespace(dag_id="d", run_id="r", task_id="t", map_index=-1, try_number=try_number)
    return {"ti": ti}


def test_the_same_callback_event_twice_is_one_message(lipachat_emulator: Emulator, lipachat_conn: str) -> None:
    notifier = LipaChatNotifier(to="254711222333", message="load failed")
    notifier.notify(fake_context())
    notifier.notify(fake_context())
    notifier.notify(fake_context(try_number=2))
    assert [r["outcome"] for r in lipachat_emulator.requests()] == ["delivered", "replayed", "delivered"]


def test_async_notify_sends_too(lipachat_emulator: Emulator, lipachat_conn: str) -> None:
    asyncio.run(LipaChatNotifier(to="254711222333", message="from the triggerer").async_notify(fake_context()))
    [delivery] = lipachat_emulator.deliveries()
    assert delivery["payload"]["message"] == "from the triggerer"


@pytest.mark.parametrize(
    "kinds",
    [{}, {"message": "a", "media_url": "https://x.example/a.png"}, {"message": "a", "template_name": "t"}],
)
def test_exactly_one_kind_of_message(kinds: dict[str, str], lipachat_emulator: Emulator, lipachat_conn: str) -> None:
    with pytest.raises(LipaChatValidationError, match="expected exactly one of them after rendering"):
        LipaChatNotifier(to="254711222333", **kinds).notify(fake_context())
    assert lipachat_emulator.requests() == []


def test_a_template_that_renders_empty_counts_as_absent(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str, capfd: pytest.CaptureFixture[str]
) -> None:
    run_dag(
        """
        import pendulum
        from airflow.sdk import DAG, task
        from airflow_provider_lipachat.notifications.lipachat import LipaChatNotifier

        with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
                 params={"template": ""}) as dag:
            @task(on_success_callback=LipaChatNotifier(
                to="254711222333", message="done {{ ds }}", template_name="{{ params.template }}"))
            def work():
                return 1

            work()
        """,
        logical_date="2024-07-01T00:00:00+00:00",
    )
    if RENDERED_EMPTY_KEEPS_SOURCE:
        # Before 3.3 Airflow keeps a field's unrendered source when it renders empty, so the notifier sees two
        # kinds and refuses, sending nothing, rather than sending a template named "{{ params.template }}".
        assert lipachat_emulator.requests() == []
        assert "expected exactly one of them after rendering" in printed(capfd)
        return
    [delivery] = lipachat_emulator.deliveries()
    assert delivery["route"] == "text"  # the empty template is absent, not a template named ""
    assert delivery["payload"]["message"] == "done 2024-07-01"


def test_every_recipient_is_attempted_and_the_failure_names_who_was_not_notified(
    lipachat_emulator: Emulator, lipachat_conn: str, capfd: pytest.CaptureFixture[str]
) -> None:
    lipachat_emulator.add_fault("status", status=422, to="254711000002")
    notifier = LipaChatNotifier(to=["254711000001", "254711000002", "254711000003"], message="load failed")

    with pytest.raises(
        LipaChatFanOutError, match=r"1 of 3 recipient\(s\) not notified: 1 recipient\(s\) \(2547\*{6}02\): "
    ) as failed:
        notifier.notify(fake_context())

    assert sorted(d["to"] for d in lipachat_emulator.deliveries()) == ["254711000001", "254711000003"]
    assert set(failed.value.failed) == {"254711000002"}
    assert "254711000002" not in str(failed.value)
    logged = printed(capfd)
    assert "Not notified 2547******02: LipaChatRequestError" in logged, logged[-2000:]


def test_every_text_field_is_templated() -> None:
    assert {"to", "message", "media_url", "caption", "template_name", "body_placeholders"} <= set(
        LipaChatNotifier.template_fields
    )


def test_the_function_alias_is_the_notifier() -> None:
    assert send_lipachat_notification is LipaChatNotifier


def test_an_empty_list_of_recipients_sends_nothing_and_says_so(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str, capfd: pytest.CaptureFixture[str]
) -> None:
    outcome = run_dag(
        """
        import pendulum
        from airflow.sdk import DAG, task
        from airflow_provider_lipachat.notifications.lipachat import LipaChatNotifier

        with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
                 params={"on_call": []}) as dag:
            @task(on_success_callback=LipaChatNotifier(to="{{ params.on_call }}", message="load done"))
            def load():
                return "ok"

            load()
        """
    )
    assert outcome.task_states == {"load": "success"}
    assert lipachat_emulator.requests() == []
    logged = printed(capfd)
    assert "Nobody to notify: 'to' is an empty list, so nothing was sent" in logged


BAD_IN_LIST_DAG = """
import pendulum
from airflow.sdk import DAG, task
from airflow_provider_lipachat.notifications.lipachat import LipaChatNotifier

with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
         params={"on_call": ["254711000991", "0711000995", "254711000993"], "local": "0711000995"}) as dag:
    @task(retries=0, on_failure_callback=LipaChatNotifier(to=TO, message="{{ ti.task_id }} failed"))
    def load():
        raise RuntimeError("warehouse unreachable")

    load()
"""


@pytest.mark.parametrize(
    "to",
    ['"{{ params.on_call }}"', '["254711000991", "{{ params.local }}", "254711000993"]'],
    ids=["rendered-list", "list-with-a-template"],
)
def test_an_invalid_number_in_the_list_keeps_no_one_else_from_being_alerted(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str, capfd: pytest.CaptureFixture[str], to: str
) -> None:
    outcome = run_dag(BAD_IN_LIST_DAG.replace("TO", to))

    assert outcome.task_states == {"load": "failed"}
    assert sorted(d["to"] for d in lipachat_emulator.deliveries()) == ["254711000991", "254711000993"]
    assert len(lipachat_emulator.requests()) == 2
    logged = printed(capfd)
    assert "Not notified 0711****95: LipaChatValidationError: to='0711****95': looks like a national number" in logged
    assert (
        "1 of 3 recipient(s) not notified: 1 recipient(s) (0711****95): LipaChatValidationError: to: "
        "looks like a national number "
        "(leading 0) with no country code; expected an international number" in logged
    ), logged[-3000:]


PLAN_DAG = """
import pendulum
from airflow.sdk import DAG, task
from airflow_provider_lipachat.notifications.lipachat import LipaChatNotifier

with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
    @task(retries=0, on_failure_callback=LipaChatNotifier(
        to=["254711000991", "+25471100092", "+44 7400 123456", "+1 201-555-0123"], message="load failed"))
    def load():
        raise RuntimeError("warehouse unreachable")

    load()
"""


def test_a_number_that_cannot_exist_keeps_no_one_else_from_being_alerted_and_is_named(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str, capfd: pytest.CaptureFixture[str]
) -> None:
    outcome = run_dag(PLAN_DAG)

    assert outcome.task_states == {"load": "failed"}
    assert sorted(d["to"] for d in lipachat_emulator.deliveries()) == ["12015550123", "254711000991", "447400123456"]
    assert len(lipachat_emulator.requests()) == 3
    logged = printed(capfd)
    assert (
        "Not notified +2547*****92: LipaChatValidationError: to='+2547*****92': cannot exist in Kenya (+254)" in logged
    )
    assert (
        "1 of 4 recipient(s) not notified: 1 recipient(s) (+2547*****92): LipaChatValidationError: to: "
        "cannot exist in Kenya (+254)" in logged
    ), logged[-3000:]
    assert "25471100092" not in logged


def test_a_literal_list_with_only_valid_numbers_or_a_template_parses() -> None:
    LipaChatNotifier(to=["254711000991", 254711000992, "+254 711 000 993"], message="ok")
    LipaChatNotifier(to=["254711000991", "{{ params.local }}"], message="checked when it runs")
    LipaChatNotifier(to="0711000995", message="text may be a template: checked when it runs")


PANDAS_NOTIFIER_DAG = """
import pandas
import pendulum
from airflow.sdk import DAG, task
from airflow_provider_lipachat.notifications.lipachat import LipaChatNotifier

ON_CALL = pandas.Series([254711000981, None, 254711000983])  # a gap: pandas reads the column as floats

with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
    @task(retries=0, on_failure_callback=LipaChatNotifier(to=ON_CALL, message="load failed"))
    def load():
        raise RuntimeError("warehouse unreachable")

    load()
"""


def test_a_pandas_column_with_a_gap_alerts_every_number_in_it_and_names_the_gap(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str, capfd: pytest.CaptureFixture[str]
) -> None:
    outcome = run_dag(PANDAS_NOTIFIER_DAG)

    assert outcome.task_states == {"load": "failed"}
    assert sorted(d["to"] for d in lipachat_emulator.deliveries()) == ["254711000981", "254711000983"]
    logged = printed(capfd)
    assert (
        "1 of 3 recipient(s) not notified: 1 recipient(s) (nan): LipaChatValidationError: to: "
        "is NaN (a missing value, as pandas "
        "writes an empty cell), not a phone number" in logged
    ), logged[-3000:]


def test_refused_numbers_are_grouped_by_cause_masked_and_the_valid_ones_sent(
    lipachat_emulator: Emulator, lipachat_conn: str
) -> None:
    notifier = LipaChatNotifier(to="{{ params.on_call }}", message="load failed")
    notifier.to = ["0711000995", "254711000991", "0722000996", float("nan"), "254711000992"]  # as rendered

    with pytest.raises(LipaChatFanOutError) as failed:
        notifier.notify(fake_context())

    assert sorted(d["to"] for d in lipachat_emulator.deliveries()) == ["254711000991", "254711000992"]
    assert set(failed.value.failed) == {"0711000995", "0722000996", "nan"}
    assert not failed.value.retryable
    text = str(failed.value)
    assert text.startswith(
        "3 of 5 recipient(s) not notified: 2 recipient(s) (0711****95, 0722****96): LipaChatValidationError: to: "
    )
    assert "; 1 recipient(s) (nan): LipaChatValidationError: to: is NaN (a missing value" in text
    assert "0711000995" not in text and "0722000996" not in text


def test_alerts_draw_from_the_numbers_shared_budget_like_every_send(
    lipachat_emulator: Emulator, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import redis

    monkeypatch.setenv("AIRFLOW_CONN_RATE_STORE", redis_server.url)
    monkeypatch.setenv(
        "AIRFLOW_CONN_LIPACHAT_DEFAULT",
        connection_json(
            lipachat_emulator.base_url, lipachat_emulator.api_key, rate_limit=40, rate_limit_store_conn_id="rate_store"
        ),
    )
    LipaChatNotifier(to=["254711222333", "254711222334"], message="load failed").notify(fake_context())

    assert len(lipachat_emulator.deliveries()) == 2
    stats = redis.Redis.from_url(redis_server.url).info("commandstats")
    # One reservation per alert (a first EVALSHA that Redis answers "no such script yet" is not one).
    calls = [stats.get(name, {"calls": 0, "failed_calls": 0}) for name in ("cmdstat_eval", "cmdstat_evalsha")]
    assert sum(call["calls"] - call["failed_calls"] for call in calls) == 2


NOTIFIED_ON_SUCCESS = """
import pendulum
from airflow.sdk import DAG, task
from airflow_provider_lipachat.notifications.lipachat import LipaChatNotifier

with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
    @task(on_success_callback=LipaChatNotifier(to="254711222333", message="{{ ti.task_id }} done"))
    def load():
        return None

    load()
"""


def test_a_task_callback_in_a_dag_run_waits_for_its_slot_in_the_numbers_shared_budget(
    run_dag: RunDag, lipachat_emulator: Emulator, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The callback's send takes the next slot of the number's budget in the store, after one already taken."""
    import redis

    from airflow_provider_lipachat.gateway.ratelimit import SPACING_MARGIN
    from airflow_provider_lipachat.gateway.shared_ratelimit import budget_key
    from airflow_provider_lipachat.gateway.timestamps import parse_gateway_timestamp

    per_second = 0.1  # a slot every 11 s: the budget's key outlives the run, so the run's reservation can be read
    monkeypatch.setenv("AIRFLOW_CONN_RATE_STORE", redis_server.url)
    monkeypatch.setenv(
        "AIRFLOW_CONN_LIPACHAT_DEFAULT",
        connection_json(
            lipachat_emulator.base_url,
            lipachat_emulator.api_key,
            rate_limit=per_second,
            rate_limit_store_conn_id="rate_store",
        ),
    )
    store = redis.Redis.from_url(redis_server.url)
    key = budget_key(lipachat_emulator.base_url, SANDBOX_SENDER)
    seconds, micros = store.time()  # Redis's clock, which the budget runs on
    taken = seconds * 1_000_000 + micros + 5_000_000  # another process holds the number's slot until 5 s from now
    store.set(key, taken, px=60_000)

    outcome = run_dag(NOTIFIED_ON_SUCCESS)

    assert outcome.task_states == {"load": "success"}
    [delivery] = lipachat_emulator.deliveries()
    assert (delivery["to"], delivery["payload"]["message"]) == ("254711222333", "load done")
    [request] = [r for r in lipachat_emulator.requests() if r["outcome"] == "delivered"]
    arrived = parse_gateway_timestamp(request["received_at"])
    assert arrived is not None
    # The notifier reserved one slot: the key moved one interval past the slot it got, which is the one taken
    # (or, if the run outlasted it, the moment of reserving), and it sent no earlier than that slot.
    slot = int(store.get(key)) - round(SPACING_MARGIN / per_second * 1_000_000)
    assert taken <= slot <= arrived.timestamp() * 1_000_000 + 50_000
