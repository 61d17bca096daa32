"""Small shared steps of the mail-handling tests (reading jobs and fixtures)."""

from __future__ import annotations

from pathlib import Path

from groups.models import OutboxItem
from tests.conftest import built_jobs

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> bytes:
    """A fixture message with CRLF line ends, as it would arrive over SMTP."""
    data = (FIXTURES / name).read_bytes()
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def job_for(group_name: str, number: int) -> dict:
    """The one fan-out job queued for message ``number`` of ``group_name``.

    A post's jobs are built after its acceptance by the fan-out continuation
    (messageserver.fanoutcontinuation), which the dispatcher runs; here the same
    code builds them in the test's thread first.
    """
    built_jobs()
    jobs = [o.payload for o in OutboxItem.objects.filter(kind="job")
            if o.payload.get("meta", {}).get("kind") == "post"
            and o.payload["meta"].get("group") == group_name
            and o.payload["meta"].get("number") == number]
    assert len(jobs) == 1, f"expected one job for {group_name} #{number}, found {len(jobs)}"
    return jobs[0]


def headers_of(job: dict) -> dict[str, str]:
    """The job's headers by name; each name must appear once."""
    names = [name for name, _ in job["headers"]]
    assert len(names) == len(set(names)), f"a header is set twice: {names}"
    return {name: value for name, value in job["headers"]}
