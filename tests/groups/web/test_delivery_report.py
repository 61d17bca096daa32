"""A post's delivery report, against a real Karl process and an SMTP sink that refuses.

Karl (``python -m karl``, as in production) delivers to an aiosmtpd sink that
refuses one member for good (550 5.1.1) and defers another (451) until the
test lets it through; Karl posts its events to a live messageserver (the
``messageserver`` fixture). While the deferred copy waits, the page asks Karl
for the job's live counts; once the job is finished, its one "finished" event
gives the counts that stay.
"""

from __future__ import annotations

import re
import time

import pytest
from django.urls import reverse

from groups.models import BounceEvent, DeliverySummary, Membership, Message, OutboxItem
from karl.client import KarlClient
from messageserver import deliveryevents, outbox
from platformcore.env import get_env
from tests.conftest import built_jobs
from tests.karl.conftest import KarlProcess, start_sink

REFUSED = "carol@example.net"
DEFERRED = "dave@example.net"


def counts(page: str) -> dict[str, int]:
    """The numbers of the "Copies" table, by column heading."""
    table = re.search(r'<table class="delivery-counts".*?</table>', page, re.S)
    assert table, page
    heads = re.findall(r"<th(?: [^>]*)?>(.*?)</th>", table.group(0))
    cells = [int(c) for c in re.findall(r"<td>(\d+)</td>", table.group(0))]
    return dict(zip(heads, cells, strict=True))


def wait_until(check, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def karl_and_sink(messageserver, tmp_path, monkeypatch):
    sink = start_sink()
    letting_through = {"dave": False}

    def policy(rcpt: str, attempt: int) -> str | None:
        if rcpt == REFUSED:
            return "550 5.1.1 <carol@example.net>: no such user here"
        if rcpt == DEFERRED and not letting_through["dave"]:
            return "451 4.2.0 mailbox busy, try later"
        return None

    sink.handler.policy = policy
    data = tmp_path / "karl"
    data.mkdir()
    token = get_env().internal_api_token
    karl = KarlProcess(data, sink.url, messageserver, {"INTERNAL_API_TOKEN": token}).start()
    monkeypatch.setenv("KARL_URL", karl.url)
    yield karl, sink, letting_through, KarlClient(karl.url, token)
    karl.stop()
    sink.controller.stop()


def test_report_counts_delivered_deferred_bounced_from_real_karl(group, clients,
                                                                 karl_and_sink):
    karl, sink, letting_through, client = karl_and_sink
    for address in (REFUSED, DEFERRED, "erin@example.net"):
        Membership.objects.create(group=group, email=address)
    assert clients["bob"].post(reverse("new_topic", args=["hikers"]),
                               {"subject": "Saturday climb", "body": "Ropes at eight."}
                               ).status_code == 302
    msg = Message.objects.get(subject="Saturday climb")
    built_jobs()
    [job] = OutboxItem.objects.filter(description=f"hikers #{msg.number}")
    total = len(job.payload["recipients"])
    assert {REFUSED, DEFERRED} <= {r["address"] for r in job.payload["recipients"]}
    assert outbox.dispatch_due(client=client) >= 1
    url = reverse("mod_message_delivery", args=["hikers", msg.number])

    # under way: carol bounced (her event recorded), dave deferred, the rest delivered
    wait_until(lambda: BounceEvent.objects.filter(membership__email=REFUSED).exists(),
               "carol's bounce event")
    wait_until(lambda: len(sink.handler.received()) >= total - 2, "the delivered copies")
    wait_until(lambda: sink.handler.attempts.get(DEFERRED, 0) >= 1, "dave's first try")
    expected = {"Copies": total, "Delivered": total - 2, "Deferred": 1, "Bounced": 1,
                "Expired": 0, "Not tried yet": 0}

    def report() -> str | None:
        """The page once Karl has written dave's deferral (the sink saw the try first)."""
        live = clients["mona"].get(url)
        assert live.status_code == 200
        page = live.content.decode()
        return page if counts(page)["Not tried yet"] == 0 else None

    page = wait_until(report, "dave's deferral in the report")
    assert counts(page) == expected
    assert "still under way" in page
    assert REFUSED in page and "no such user here" in page and DEFERRED not in page
    assert not DeliverySummary.objects.exists()

    # dave's mailbox takes it on Karl's next try: the job finishes, its summary arrives
    letting_through["dave"] = True
    summary = wait_until(lambda: DeliverySummary.objects.filter(
        message_number=msg.number).first(), "the job's finished event")
    assert (summary.total, summary.sent, summary.bounced, summary.deferred) == (
        total, total - 1, 1, 1)
    final = clients["alice"].get(url).content.decode()
    assert counts(final) == {"Copies": total, "Delivered": total - 1, "Deferred": 0,
                             "Bounced": 1, "Expired": 0, "Not tried yet": 0}
    assert "Delivery is finished; 1 copy was deferred at least once" in final
    assert REFUSED in final
    assert {m.rcpt for m in sink.handler.received()} >= {DEFERRED, "erin@example.net"}

    # Karl stopped: the finished job's counts still show, from the database
    karl.stop()
    assert counts(clients["mona"].get(url).content.decode())["Delivered"] == total - 1


@pytest.mark.parametrize("who,status", [("alice", 200), ("mona", 200), ("root", 200),
                                        ("bob", 404), ("charlie", 404)])
def test_report_is_for_owners_and_moderators(group, clients, who, status):
    from tests.groups.web.conftest import make_post

    msg = make_post(group, "Quiet one")
    response = clients[who].get(reverse("mod_message_delivery", args=["hikers", msg.number]))
    assert response.status_code == status
    if status == 200:
        assert "No copies were sent by email" in response.content.decode()
    assert clients[who].get(reverse("mod_message_delivery", args=["hikers", 999])
                            ).status_code == 404


def test_finished_event_is_kept_once_and_odd_ones_are_ignored(group):
    event = {"id": "J1/finished", "job_id": "J1", "state": "finished", "address": "",
             "counts": {"sent": 5, "bounced": 1, "expired": 2}, "deferred": 3, "total": 8,
             "meta": {"group": "hikers", "number": 7, "kind": "post"}}
    assert deliveryevents.record([event]) == 1
    assert deliveryevents.record([event]) == 0  # Karl posting the batch again
    row = DeliverySummary.objects.get()
    assert (row.message_number, row.sent, row.bounced, row.expired, row.deferred,
            row.total) == (7, 5, 1, 2, 3, 8)
    odd = [{**event, "job_id": "J2", "counts": {"sent": -4}, "total": "many"},
           {**event, "job_id": "J3", "meta": {"group": "nosuch"}},
           {**event, "job_id": 12}]
    assert deliveryevents.record(odd) == 1
    assert DeliverySummary.objects.get(karl_job_id="J2").sent == 0
