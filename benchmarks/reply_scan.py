"""Reply-scan benchmark: one poll for the answers of 1,000 recipients among 10,000 list items.

The list, newest first: 1,000 answers, 8,000 other messages, then the 1,000 questions, oldest, so
every poll reads every page. Side by side: the delivery-only
scan of the same questions, the reply scan (statuses and answers in the same pass), and what a second
pager would cost (the delivery scan, then another pass over the list for the answers).
The emulator runs in its own process on loopback. Usage: python benchmarks/reply_scan.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import API_KEY, SENDER, control, emulator_process, recipients, send_each, table

from airflow_provider_lipachat.gateway.client import LipaChatClient
from airflow_provider_lipachat.gateway.message_list import PAGE_SIZE, ListScan, read_inbound_item
from airflow_provider_lipachat.gateway.messages import ButtonsMessage, TextMessage
from airflow_provider_lipachat.utils.replies import decide_replies

ROUNDS = 3


def post(base_url: str, path: str, spec: object) -> None:
    request = urllib.request.Request(
        base_url + path, data=json.dumps(spec).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    urllib.request.urlopen(request, timeout=30).close()


def build_list(base_url: str, asked: int, items: int) -> dict[str, str]:
    """Questions to ``asked`` numbers (oldest), other messages, then each number's answer (newest): ``items`` in all."""
    post(base_url, "/_emulator/statuses", {"lifecycle": "delivered", "delivered_after": 0})
    client = LipaChatClient(base_url, API_KEY, pool_size=8)
    try:
        numbers = recipients(asked)

        def ask(number: str) -> str:
            question = ButtonsMessage(to=number, text="Send it?", buttons=["Approve", "Reject"], from_number=SENDER)
            return client.send(question).wa_id

        questions = send_each(numbers, ask)
        others = items - 2 * asked
        send_each(
            recipients(others, prefix="2548"),
            lambda n: client.send(TextMessage(to=n, message="hi", from_number=SENDER)).wa_id,
        )
    finally:
        client.close()
    for n in numbers:
        post(base_url, "/_emulator/inbound", {"from": n, "button": {"id": "approve", "title": "Approve"}})
    return questions


def poll(base_url: str, questions: dict[str, str], kind: str, max_pages: int) -> tuple[int, float, int]:
    """(list requests, seconds, answers found) of one poll of ``kind``."""
    client = LipaChatClient(base_url, API_KEY)
    before = len(control(base_url, "/_emulator/requests"))
    started = time.perf_counter()
    answered = 0
    if kind == "delivery":
        found = client.statuses(questions.values(), max_pages=max_pages)
    else:
        wanted = ListScan(
            frozenset(questions.values()),
            max_pages=max_pages,
            replies=kind == "reply",
            reply_senders=frozenset(questions),
        )
        scan = client.scan(wanted)
        found, inbound = scan.found, scan.inbound
        if kind == "second pager":  # the delivery scan above, then a pass of its own for the answers
            inbound = []
            page, total = 0, None
            while total is None or page < total:
                body = client.message_page(page)
                total = body["totalPages"] if body["data"] else page
                inbound += [m for m in map(read_inbound_item, body["data"]) if m is not None]
                page += 1
        decision = decide_replies(questions, found, inbound, ("Approve", "Reject"), "all")
        answered = len(decision.answers)
    elapsed = time.perf_counter() - started
    requests = len(control(base_url, "/_emulator/requests")) - before
    client.close()
    assert len(found) == len(questions)
    return requests, elapsed, answered


def one_poll(asked: int, items: int) -> str:
    max_pages = items // PAGE_SIZE + 10
    rows = []
    with emulator_process() as base_url:
        questions = build_list(base_url, asked, items)
        looks = {
            "delivery": "delivery statuses only (WhatsAppDeliverySensor's look)",
            "reply": "statuses and answers in one pass (WhatsAppReplySensor's look)",
            "second pager": "statuses, then a second pass for the answers",
        }
        timings: dict[str, list[float]] = {kind: [] for kind in looks}
        counts: dict[str, tuple[int, int]] = {}
        for _ in range(ROUNDS):  # interleaved, best of each: the machine's other load moves single runs
            for kind in looks:
                requests, elapsed, answered = poll(base_url, questions, kind, max_pages)
                timings[kind].append(elapsed)
                counts[kind] = (requests, answered)
        for kind, label in looks.items():
            requests, answered = counts[kind]
            if kind != "delivery":
                assert answered == asked, (kind, answered)
            best = min(timings[kind])
            found = "-" if kind == "delivery" else str(answered)
            rows.append([label, str(requests), f"{best:.2f}", f"{best / requests * 1000:.1f}", found])
    return table(
        f"One poll for the answers of {asked:,} recipients among {items:,} list items (page size {PAGE_SIZE};"
        " questions oldest, so every page is read)",
        ["look", "list requests", f"seconds (best of {ROUNDS})", "ms per page", "answers found"],
        rows,
    )


def main(quick: bool = False) -> str:
    """Print the table, and return it for ``make bench`` to write into docs/benchmarks.md."""
    printed = one_poll(100, 1000) if quick else one_poll(1000, 10_000)
    print(printed)
    return printed


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small counts, for a smoke run")
    main(parser.parse_args().quick)
