"""How many recipients each Karl job of a post's fan-out carries: one growth rule for both kinds.

A fan-out is handed to Karl in keyset slices (messageserver.fanoutcontinuation),
each one a job. Personal and bulk fan-outs grow the same way (``slice_size``):
a small first job, so Karl is sending within moments of smtpd's 250, then four
times as many each, up to the kind's largest job. Only the two bounds differ
(``bounds``): a personal recipient carries about 850 bytes of links and
headers, a bulk recipient an address (about 40 bytes).

Plain Python (no Django), so a benchmark (bench/bench_bulk.py) cuts its job
into the very slices the platform would, by calling this module.
"""

from __future__ import annotations

from platformcore.env import env_int

GROWTH = 4  # each job carries this many times the recipients of the one before


def job_recipients() -> int:
    """FANOUT_JOB_RECIPIENTS: the most recipients one personal Karl job carries.

    Karl refuses a job over KARL_MAX_JOB_BYTES (64 MiB); each recipient adds
    about 850 bytes of links and headers, so one job for a very large group
    (about 79,000 members and up) would be refused after the post was
    accepted. 5,000 keeps a job of a 25 MB post under 40 MB.
    """
    return env_int("FANOUT_JOB_RECIPIENTS", 5000, minimum=1)


def first_job_recipients() -> int:
    """FANOUT_FIRST_JOB_RECIPIENTS: the most recipients the first personal job carries.

    Karl starts on a job once it is spooled, and a job of 5,000 recipients
    takes a few hundred milliseconds to hand over (4 MB of JSON read, sent,
    parsed, checked and written); a small first job is in Karl and its first
    copies out while the rest is still on its way (issue #20: the first copy
    within a second of smtpd's 250).
    """
    return env_int("FANOUT_FIRST_JOB_RECIPIENTS", 200, minimum=1)


def bulk_job_recipients() -> int:
    """FANOUT_BULK_JOB_RECIPIENTS: the most recipients one bulk job carries.

    A bulk recipient is an address (about 40 bytes in the job), so a job can
    carry far more than a personal one: 50,000 is about 2 MB of addresses.
    Each job is one copy signed once (per Karl delivery process).
    """
    return env_int("FANOUT_BULK_JOB_RECIPIENTS", 50_000, minimum=1)


def first_bulk_job_recipients() -> int:
    """FANOUT_FIRST_BULK_JOB_RECIPIENTS: the most recipients the first bulk job carries.

    Karl sends nothing of a job before it has parsed, checked and spooled
    (synced) all of it: 0.28-0.46 s for 100,000 addresses on two shared cores,
    a third of that group's whole delivery. A first job of 2,000 addresses is
    taken in a few milliseconds, its first transaction done 30-50 ms after the
    hand-off began, and it is at least 20 full transactions, enough to keep
    Karl's eight connections per host busy while the next, four times larger,
    is handed over (docs/capacity.md, "Bulk delivery").
    """
    return env_int("FANOUT_FIRST_BULK_JOB_RECIPIENTS", 2000, minimum=1)


def bounds(bulk: bool) -> tuple[int, int]:
    """(first job's recipients, the most of any job) for a bulk or a personal fan-out."""
    if bulk:
        return first_bulk_job_recipients(), bulk_job_recipients()
    return first_job_recipients(), job_recipients()


def slice_size(part: int, size: int, first: int) -> int:
    """How many recipients the fan-out's ``part``-th job (from 1) carries.

    ``first``, then ``GROWTH`` (four) times as many each, up to ``size``.
    Handing a job to Karl is several times faster than delivering it, so while
    Karl delivers one job the next, four times larger, is on its way: Karl
    never waits for the big jobs, and they are as few as ``size`` allows.
    """
    return min(size, max(1, min(first, size)) * GROWTH ** min(part - 1, 16))


def part_count(total: int, size: int, first: int) -> int:
    """How many jobs ``total`` recipients make with ``slice_size``'s sizes."""
    parts = done = 0
    while done < total:
        parts += 1
        done += slice_size(parts, size, first)
    return parts


def sizes(total: int, bulk: bool) -> list[int]:
    """The recipients of each job a fan-out of ``total`` makes, with this process's settings."""
    first, size = bounds(bulk)
    out: list[int] = []
    done = 0
    while done < total:
        out.append(min(total - done, slice_size(len(out) + 1, size, first)))
        done += out[-1]
    return out
