"""One sender number, many workers: a partitioned backfill on CeleryExecutor keeps the number's throughput limit.

Airflow 3.3 on loopback with two Celery workers (two task slots each), the gateway emulator
refusing more than ``LIMIT`` sends a second per sender number with WhatsApp's 130429, and two
Redis servers: the Celery broker, and the rate-limit store the ``lipachat`` connections name in
``rate_limit_store_conn_id`` (a separate server, so taking the store away leaves the broker up).

Every scenario backfills its own copy of ``example_dags/lipachat_partition_backfill.py``: one
``SendWhatsAppTextOperator`` per partition fanning out to ``RECIPIENTS`` recipients, through a
connection of its own whose ``from_number`` is its own sender (the emulator's budgets are per
sender), ``rate_limit`` ``LIMIT``. The stack starts once for the module.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from airflow_provider_lipachat.emulator import busiest_window
from tests.e2e.celery_on_loopback import WORKERS, CeleryOnLoopback, EmulatorProcess, celery_executor_or_skip
from tests.redis_server import RedisServer
from tests.support import REPO_ROOT

pytestmark = pytest.mark.distributed

EXAMPLE = "lipachat_partition_backfill"
LIMIT = 40
#: The pacer leaves 40 ms of each second for a send's way from its slot to the gateway's count; on a loaded
#: machine one can take longer and draw a 130429, which is retried, not lost (docs/fan-out.md). With the
#: shared store that is a stray one or two; without it, hundreds.
STRAY_REFUSALS = 2
RECIPIENTS = [f"2547{n:08d}" for n in range(150)]
PARTITIONS = ("2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04")
POOL = "whatsapp_sends"
STORE_CONN_ID = "lipachat_rate_store"
STORE_PASSWORD = "rate-store-password-never-logged"
#: The shared limit may cost some throughput, not much: accepted sends over the busy span, as a share of LIMIT.
MIN_SHARE_OF_LIMIT = 0.85
RUN_SECONDS = 240


@dataclass(frozen=True)
class Scenario:
    """One DAG (a copy of the example), its connection and its sender number."""

    dag_id: str
    sender: str
    shared: bool = True
    partitions: tuple[str, ...] = PARTITIONS
    retry_delay: int = 3

    @property
    def conn_id(self) -> str:
        return self.dag_id

    def connection(self, emulator: EmulatorProcess) -> str:
        extra: dict[str, object] = {"from_number": self.sender, "rate_limit": LIMIT, "timeout": 10}
        if self.shared:
            extra["rate_limit_store_conn_id"] = STORE_CONN_ID
        return json.dumps(
            {"conn_type": "lipachat", "host": emulator.base_url, "password": emulator.api_key, "extra": extra}
        )

    def dag_source(self) -> str:
        """The example, with this scenario's DAG id, connection, recipients and a short retry delay."""
        source = (REPO_ROOT / "example_dags" / f"{EXAMPLE}.py").read_text()
        for old, new in [
            (f'dag_id="{EXAMPLE}"', f'dag_id="{self.dag_id}"'),
            ('lipachat_conn_id="lipachat_default"', f'lipachat_conn_id="{self.conn_id}"'),
            ("retry_delay=timedelta(minutes=1)", f"retry_delay=timedelta(seconds={self.retry_delay})"),
        ]:
            assert source.count(old) == 1, f"the example no longer says {old}"
            source = source.replace(old, new)
        source, replaced = re.subn(r"^RECIPIENTS = .*$", f"RECIPIENTS = {RECIPIENTS!r}", source, flags=re.M)
        assert replaced == 1, "the example no longer has a RECIPIENTS = [...] line"
        return source


SHARED = Scenario("lipachat_many_workers_shared", "254700000001")
ALONE = Scenario("lipachat_many_workers_alone", "254700000002", shared=False)
KILLED = Scenario("lipachat_many_workers_killed", "254700000003")
STORE_DOWN = Scenario("lipachat_many_workers_store_down", "254700000004", partitions=PARTITIONS[:2], retry_delay=10)
SCENARIOS = (SHARED, ALONE, KILLED, STORE_DOWN)


@dataclass
class Stack:
    airflow: CeleryOnLoopback
    emulator: EmulatorProcess
    store: RedisServer


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Emulator, broker, store, api-server, scheduler, dag-processor and workers w1 and w2, up for the module."""
    celery_executor_or_skip()
    home = tmp_path_factory.mktemp("celery")
    (home / "dags").mkdir()
    for scenario in SCENARIOS:
        (home / "dags" / f"{scenario.dag_id}.py").write_text(scenario.dag_source())
    broker = RedisServer(home)
    store = RedisServer(home, password=STORE_PASSWORD)
    emulator = EmulatorProcess(home, throughput=LIMIT)
    airflow: CeleryOnLoopback | None = None
    try:
        broker.start()
        store.start()
        connections = {STORE_CONN_ID: store.url, **{s.conn_id: s.connection(emulator) for s in SCENARIOS}}
        airflow = stack_airflow = CeleryOnLoopback(home, emulator, broker, connections)
        airflow.cli("db", "migrate")
        airflow.cli("pools", "set", POOL, str(len(PARTITIONS)), "send tasks of one LipaChat sender number")
        started = time.monotonic()
        airflow.start_api_server()
        airflow.start("scheduler", "--skip-serve-logs")
        airflow.start("dag-processor")
        airflow.start_workers(*WORKERS)
        parsed = {s.dag_id for s in SCENARIOS}
        airflow.wait_for(
            "the scenarios' DAGs to be parsed",
            lambda: {row[0] for row in stack_airflow.query("SELECT dag_id FROM dag")} >= parsed,
            interval=0.5,
        )
        print(f"CeleryExecutor stack up in {time.monotonic() - started:.0f} s")
        yield Stack(airflow, emulator, store)
    finally:
        if airflow is not None:
            airflow.stop()
        store.stop()
        broker.stop()
        emulator.stop()


# -- what Airflow and the emulator say ---------------------------------------------------------------


def task_instances(airflow: CeleryOnLoopback, scenario: Scenario) -> dict[str, tuple[str, str | None, int]]:
    """Partition -> (run id, state, try number) of its send task."""
    rows = airflow.query(
        "SELECT dr.logical_date, ti.run_id, ti.state, ti.try_number FROM task_instance ti "
        "JOIN dag_run dr ON dr.dag_id = ti.dag_id AND dr.run_id = ti.run_id WHERE ti.dag_id = ?",
        scenario.dag_id,
    )
    return {str(logical)[:10]: (run_id, state, tries) for logical, run_id, state, tries in rows}


def backfill(stack: Stack, scenario: Scenario) -> float:
    """Create the scenario's backfill; returns when (monotonic) it was asked for."""
    started = time.monotonic()
    dates = ("--from-date", scenario.partitions[0], "--to-date", scenario.partitions[-1])
    stack.airflow.cli("backfill", "create", "--dag-id", scenario.dag_id, *dates)
    return started


def none_failed(stack: Stack, scenario: Scenario) -> dict[str, tuple[str, str | None, int]]:
    """The scenario's task instances, failing the test at once if one has failed for good."""
    tis = task_instances(stack.airflow, scenario)
    failed = {day: ti for day, ti in tis.items() if ti[1] in ("failed", "upstream_failed")}
    assert not failed, f"task instances failed: {failed}\n{stack.airflow.output()}"
    return tis


def wait_until_all_succeeded(stack: Stack, scenario: Scenario) -> None:
    def succeeded() -> bool:
        tis = none_failed(stack, scenario)
        return set(tis) == set(scenario.partitions) and all(ti[1] == "success" for ti in tis.values())

    stack.airflow.wait_for(f"every partition of {scenario.dag_id} to succeed", succeeded, timeout=RUN_SECONDS)


def delivered(stack: Stack, scenario: Scenario) -> list[dict[str, object]]:
    return [d for d in stack.emulator.deliveries() if d["from"] == scenario.sender]


def delivered_all(scenario: Scenario) -> set[tuple[str, str]]:
    """(partition, recipient) of every message the scenario's backfill sends."""
    return {(day, to) for day in scenario.partitions for to in RECIPIENTS}


def partition_of(delivery: dict[str, object]) -> str:
    """The partition a delivered text names: "Partition 2024-01-02 is ready: ..."."""
    payload = delivery["payload"]
    assert isinstance(payload, dict)
    return str(payload["message"]).split()[1]


@dataclass(frozen=True)
class Throughput:
    """What the emulator saw from one sender."""

    accepted: int
    throttled: int
    busiest_accepted: int  # most sends accepted in any one second
    busiest_offered: int  # most sends that arrived (accepted or refused with 130429) in any one second
    span: float  # seconds from the first accepted send to the last
    rate: float  # accepted sends per second over that span

    def line(self) -> str:
        return (
            f"{self.accepted} accepted, {self.throttled} refused with 130429; busiest second: {self.busiest_accepted} "
            f"accepted, {self.busiest_offered} arrived; {self.rate:.1f} msg/s over {self.span:.1f} s "
            f"(limit {LIMIT}/s)"
        )


def throughput(stack: Stack, scenario: Scenario) -> Throughput:
    arrivals = stack.emulator.arrivals(scenario.sender)
    accepted = sorted(a.at for a in arrivals if a.accepted)
    span = accepted[-1] - accepted[0] if len(accepted) > 1 else 0.0
    return Throughput(
        accepted=len(accepted),
        throttled=sum(not a.accepted for a in arrivals),
        busiest_accepted=busiest_window(accepted),
        busiest_offered=busiest_window(a.at for a in arrivals),
        span=span,
        rate=(len(accepted) - 1) / span if span else 0.0,
    )


def assert_each_recipient_once_per_partition(stack: Stack, scenario: Scenario) -> None:
    """The gateway took exactly one message per partition and recipient, and Airflow's XCom names those messages."""
    deliveries = delivered(stack, scenario)
    received = Counter((partition_of(d), str(d["to"])) for d in deliveries)
    expected = delivered_all(scenario)
    assert set(received) == expected
    assert {key: n for key, n in received.items() if n > 1} == {}
    assert len({d["messageId"] for d in deliveries}) == len(expected)
    for day, (run_id, _, _) in task_instances(stack.airflow, scenario).items():
        (value,) = stack.airflow.query(
            "SELECT value FROM xcom WHERE dag_id = ? AND run_id = ? AND key = 'return_value'", scenario.dag_id, run_id
        )[0]
        wa_ids = {str(d["to"]): d["waId"] for d in deliveries if partition_of(d) == day}
        assert json.loads(value) == wa_ids, f"partition {day}: XCom's waIds are not the delivered messages'"


def task_log(airflow: CeleryOnLoopback, scenario: Scenario, run_id: str, try_number: int) -> str:
    (path,) = (airflow.home / "logs" / f"dag_id={scenario.dag_id}" / f"run_id={run_id}").rglob(
        f"attempt={try_number}.log"
    )
    return path.read_text(errors="replace")


def report(record_property: pytest.RecordProperty, line: str) -> None:
    print(line)
    record_property("measured", line)


# -- the specifications ------------------------------------------------------------------------------


def test_a_shared_store_keeps_four_partitions_on_two_workers_within_the_number_s_limit(
    stack: Stack, record_property: pytest.RecordProperty
) -> None:
    started = backfill(stack, SHARED)
    wait_until_all_succeeded(stack, SHARED)
    took = time.monotonic() - started

    seen = throughput(stack, SHARED)
    ran_on = stack.airflow.workers_that_ran(SHARED.dag_id)
    report(record_property, f"shared store, 4 x {len(RECIPIENTS)}: {seen.line()}; backfill took {took:.0f} s")
    assert seen.throttled <= STRAY_REFUSALS
    assert seen.busiest_offered <= LIMIT + STRAY_REFUSALS
    assert seen.rate >= MIN_SHARE_OF_LIMIT * LIMIT
    assert_each_recipient_once_per_partition(stack, SHARED)
    assert {tries for _, _, tries in task_instances(stack.airflow, SHARED).values()} == {1}
    assert set(ran_on.values()) == set(WORKERS), f"the partitions ran on {ran_on}"


def test_without_the_store_each_task_paces_alone_and_the_gateway_refuses_the_excess_yet_each_recipient_gets_one(
    stack: Stack, record_property: pytest.RecordProperty
) -> None:
    started = backfill(stack, ALONE)
    wait_until_all_succeeded(stack, ALONE)
    took = time.monotonic() - started

    seen = throughput(stack, ALONE)
    tries = {day: n for day, (_, _, n) in task_instances(stack.airflow, ALONE).items()}
    report(record_property, f"no store, 4 x {len(RECIPIENTS)}: {seen.line()}; tries {tries}; took {took:.0f} s")
    assert seen.busiest_offered > LIMIT  # four tasks at LIMIT each: the number's budget overshot
    assert seen.throttled > 0
    assert seen.busiest_accepted <= LIMIT  # the gateway kept its limit by refusing
    assert_each_recipient_once_per_partition(stack, ALONE)


def test_a_worker_killed_mid_fan_out_has_its_tasks_retried_and_no_recipient_gets_two(
    stack: Stack, record_property: pytest.RecordProperty
) -> None:
    airflow = stack.airflow
    started = backfill(stack, KILLED)
    airflow.wait_for(
        "a third of the messages to be accepted",
        lambda: bool(none_failed(stack, KILLED)) and len(delivered(stack, KILLED)) >= len(delivered_all(KILLED)) // 3,
        timeout=RUN_SECONDS,
        interval=0.1,
    )
    first_tries = airflow.workers_that_ran(KILLED.dag_id)
    victim = first_tries[min(first_tries)]  # a worker running at least one partition
    killed_runs = {run_id for (run_id, _), name in first_tries.items() if name == victim}
    unfinished = {ti[0] for ti in task_instances(airflow, KILLED).values() if ti[1] != "success"}
    airflow.kill_worker(victim)
    at_kill = len(delivered(stack, KILLED))
    killed_at = time.monotonic()
    airflow.start_workers(victim)
    wait_until_all_succeeded(stack, KILLED)
    took = time.monotonic() - started

    seen = throughput(stack, KILLED)
    replayed = sum(
        1 for r in stack.emulator.requests() if r["outcome"] == "replayed" and r["to"] in RECIPIENTS
    )  # sent after the last checkpoint, sent again on the retry: the gateway answered the first answer
    tries = {run_id: n for run_id, _, n in task_instances(airflow, KILLED).values()}
    retried_on = {name for (run_id, n), name in airflow.workers_that_ran(KILLED.dag_id).items() if n > 1}
    report(
        record_property,
        f"worker {victim} SIGKILLed with {len(killed_runs & unfinished)} partition(s) running and {at_kill} "
        f"messages accepted: retried on {sorted(retried_on)}, done {time.monotonic() - killed_at:.0f} s after the "
        f"kill; {seen.line()}; {replayed} replayed answers; took {took:.0f} s",
    )
    assert killed_runs & unfinished, "the kill came after the victim's partitions had finished"
    for run_id in killed_runs & unfinished:
        assert tries[run_id] == 2, f"{run_id} was running on the killed worker: {tries}"
    assert retried_on
    assert seen.throttled <= STRAY_REFUSALS
    assert seen.busiest_offered <= LIMIT + STRAY_REFUSALS
    assert_each_recipient_once_per_partition(stack, KILLED)


def test_the_store_going_away_fails_the_task_as_transient_and_the_retry_finishes_once_it_is_back(
    stack: Stack, record_property: pytest.RecordProperty
) -> None:
    airflow = stack.airflow
    started = backfill(stack, STORE_DOWN)
    airflow.wait_for(
        "every partition to be sending",
        lambda: (
            bool(none_failed(stack, STORE_DOWN))
            and len({partition_of(d) for d in delivered(stack, STORE_DOWN)}) == len(STORE_DOWN.partitions)
        ),
        timeout=RUN_SECONDS,
        interval=0.1,
    )
    stack.store.stop()
    stopped_at = time.monotonic()
    at_stop = len(delivered(stack, STORE_DOWN))

    def retrying() -> bool:
        return {ti[1] for ti in task_instances(airflow, STORE_DOWN).values()} == {"up_for_retry"}

    airflow.wait_for("both tasks to be up for retry", retrying, timeout=60, interval=0.2)
    failed_after = time.monotonic() - stopped_at
    during_outage = len(delivered(stack, STORE_DOWN)) - at_stop
    stack.store.start()
    restarted_at = time.monotonic()
    wait_until_all_succeeded(stack, STORE_DOWN)
    took = time.monotonic() - started

    seen = throughput(stack, STORE_DOWN)
    refused = [
        f"{a.at - stopped_at:+.2f} s from the stop, {a.at - restarted_at:+.2f} s from the restart"
        for a in stack.emulator.arrivals(STORE_DOWN.sender)
        if not a.accepted
    ]
    tis = task_instances(airflow, STORE_DOWN)
    report(
        record_property,
        f"store stopped at {at_stop} accepted: both tasks up for retry {failed_after:.1f} s later, "
        f"{during_outage} accepted meanwhile; {seen.line()}; took {took:.0f} s"
        + (f"; refused at {', '.join(refused)}" if refused else ""),
    )
    for run_id, _, tries in tis.values():
        assert tries == 2
        first_try = task_log(airflow, STORE_DOWN, run_id, 1)
        assert f"store (connection {STORE_CONN_ID!r}) did not answer" in first_try
        assert STORE_PASSWORD not in first_try
    # Sends go on only on the slots reserved before the store went away: a fraction of a second's, never more.
    assert during_outage <= LIMIT
    assert seen.throttled <= STRAY_REFUSALS
    assert seen.busiest_offered <= LIMIT + STRAY_REFUSALS
    assert_each_recipient_once_per_partition(stack, STORE_DOWN)
