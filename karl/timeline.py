"""When each job's copies were first signed, first sent and last sent.

End-to-end latency (SMTP 250 -> first copy out -> last copy out) is the figure
a list owner notices, and the benchmark (bench/bench_fanout.py) prints it stage
by stage. Karl knows its part of it: the moment a job was spooled (its spec's
``created``), and these three, taken from the outcomes as batches finish (each
outcome carries when its copy was signed and when the relay answered, to the
chunk of copies handed to the transport at once). They are kept here, in
memory, by the scheduler and shown by ``GET /v1/jobs/ID`` as ``timeline``
(milliseconds since the epoch). Memory only, bounded to the last ``KEEP``
jobs: after a restart a job has none, which is why nothing but reports and
benchmarks reads them.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable


class Timelines:
    """first_signed_ms, first_sent_ms and last_sent_ms per job, for the most recent jobs."""

    KEEP = 1024

    def __init__(self) -> None:
        self._jobs: OrderedDict[str, dict[str, int]] = OrderedDict()

    def record(self, job_id: str, signed: Iterable[float], sent: Iterable[float]) -> None:
        """A batch of ``job_id`` finished: when its copies were signed and accepted (epoch s)."""
        signed = [t for t in signed if t]
        sent = [t for t in sent if t]
        if not signed and not sent:
            return
        marks = self._jobs.get(job_id)
        if marks is None:
            marks = self._jobs[job_id] = {}
            while len(self._jobs) > self.KEEP:
                self._jobs.popitem(last=False)
        if signed:
            first = int(min(signed) * 1000)
            marks["first_signed_ms"] = min(marks.get("first_signed_ms", first), first)
        if sent:
            first, last = int(min(sent) * 1000), int(max(sent) * 1000)
            marks["first_sent_ms"] = min(marks.get("first_sent_ms", first), first)
            marks["last_sent_ms"] = max(marks.get("last_sent_ms", last), last)

    def get(self, job_id: str) -> dict[str, int]:
        return dict(self._jobs.get(job_id, {}))
