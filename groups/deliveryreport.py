"""A post's delivery report ("message delivery history"): what became of every copy.

Three sources, each for what it knows best:
- ``DeliverySummary`` rows, from each finished Karl job's one "finished" event
  (karl.spool, messageserver.deliveryevents.record_summary): the final counts,
  kept after Karl forgets the job;
- Karl itself, asked through its client (``GET /v1/jobs/ID?summary=1``, counts
  only) for a job still under way, so deferred copies show while they wait;
- the outbox, for a job not yet handed to Karl, and for the recipients whose
  job is not even built yet (the post's "fanout" row, messageserver.fanoutcontinuation);
and the failed copies one by one from ``BounceEvent`` (Karl's bounced/expired
events and bounce mail), which name the recipients.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Q

from groups.models import BounceEvent, DeliverySummary, Group, Message, OutboxItem
from karl.client import KarlClient, KarlError, KarlUnavailable

FAILURES_SHOWN = 500


@dataclass
class JobCounts:
    """One Karl job of the post (a large group's post is several)."""

    label: str
    job_id: str = ""
    total: int = 0
    sent: int = 0
    deferred: int = 0  # waiting to be retried now
    bounced: int = 0
    expired: int = 0
    waiting: int = 0  # not tried yet (queued, being sent, or not at Karl yet)
    delayed: int = 0  # finished jobs: copies deferred at least once before the end
    state: str = ""  # finished | in progress | waiting for Karl | unknown
    node: str = ""  # the Karl node that has the job (its base URL), when recorded


@dataclass
class DeliveryReport:
    message: Message
    jobs: list[JobCounts] = field(default_factory=list)
    failures: list[BounceEvent] = field(default_factory=list)
    karl_unreachable: bool = False

    def _sum(self, name: str) -> int:
        return sum(getattr(j, name) for j in self.jobs)

    @property
    def totals(self) -> dict[str, int]:
        return {name: self._sum(name) for name in ("total", "sent", "deferred", "bounced",
                                                    "expired", "waiting", "delayed")}

    @property
    def finished(self) -> bool:
        return bool(self.jobs) and all(j.state == "finished" for j in self.jobs)


def _outbox_rows(group: Group, number: int) -> list[OutboxItem]:
    """The post's fan-out rows, by the description messageserver.fanout gives them.

    Its parts are "NAME (part N of M)" (messageserver.fanout) and, split over
    several Karl nodes, "... (node part N of M)" (messageserver.karlnodes).
    """
    name = f"{group.name} #{number}"
    return list(OutboxItem.objects.filter(Q(description=name)
                                          | Q(description__startswith=f"{name} ("))
                .order_by("pk"))


def _client_for(row: OutboxItem, karl: KarlClient | None) -> KarlClient:
    """The Karl node that has the row's job (recorded at hand-off), else the one Karl."""
    if karl is not None:
        return karl
    return KarlClient(base_url=row.karl_node) if row.karl_node else KarlClient()


def build(message: Message, karl: KarlClient | None = None) -> DeliveryReport:
    """The report of one archived message, live for jobs still at Karl (at whichever node)."""
    group = message.group
    report = DeliveryReport(message)
    summaries = {s.karl_job_id: s for s in DeliverySummary.objects.filter(
        group=group, message_number=message.number)}
    rows = _outbox_rows(group, message.number)
    nodes = {row.karl_job_id: row.karl_node for row in rows if row.karl_job_id}
    for s in summaries.values():
        report.jobs.append(JobCounts(f"Job {s.karl_job_id}", s.karl_job_id, s.total, s.sent, 0,
                                     s.bounced, s.expired, 0, s.deferred, "finished",
                                     nodes.get(s.karl_job_id, "")))
    unreachable: set[str] = set()  # nodes that did not answer: not asked again for this page
    for row in rows:
        if row.karl_job_id and row.karl_job_id in summaries:
            continue
        if row.kind == OutboxItem.Kind.FANOUT:  # recipients whose job is still to be built
            left = int(row.payload.get("total") or 0) - int(row.payload.get("recipients_done")
                                                           or 0)
            if row.state != OutboxItem.State.DONE and left > 0:
                report.jobs.append(JobCounts(row.description, total=left, waiting=left,
                                             state="waiting for Karl"))
            continue
        size = len(row.payload.get("recipients") or [])
        job = JobCounts(row.description, row.karl_job_id, total=size, node=row.karl_node)
        if row.state != OutboxItem.State.DONE or not row.karl_job_id:
            job.waiting, job.state = size, "waiting for Karl"
        elif row.karl_node in unreachable:
            job.state = "unknown"
        else:
            try:
                counts = _client_for(row, karl).job_status(row.karl_job_id,
                                                           summary=True)["counts"]
            except KarlUnavailable:
                report.karl_unreachable, job.state = True, "unknown"
                unreachable.add(row.karl_node)
            except KarlError:  # Karl forgot the job (KARL_KEEP_DONE) before its summary came
                job.state = "unknown"
            else:
                job.sent, job.deferred = counts.get("sent", 0), counts.get("deferred", 0)
                job.bounced, job.expired = counts.get("bounced", 0), counts.get("expired", 0)
                job.waiting = counts.get("queued", 0) + counts.get("sending", 0)
                job.state = "in progress"
        report.jobs.append(job)
    report.failures = list(BounceEvent.objects.filter(
        membership__group=group, message_number=message.number)
        .select_related("membership").order_by("-at")[:FAILURES_SHOWN])
    return report
