"""Celery faults in the Redis mode: Redis stopped, the worker killed mid-job, under a stream of posts.

The platform runs against a redis-server of this module's own (the shared one
is never stopped), with the scheduler process (beat and a worker, as
runplatform supervises it). In this mode messageserver queues each archived
message's indexing as a Celery task, so these are the faults that could make
an accepted post unsearchable or a digest go out twice:

- Redis killed while posts flow (it keeps nothing on disk: what it held is
  gone): mail is unaffected, indexing falls back to inline while the broker is
  down, the worker reconnects by itself, and what the restart emptied out of
  the queue is indexed by the hourly catch-up (search.catchup).
- The worker killed with -9 in the middle of senddigests, with posts flowing:
  with late acks the job and the indexing tasks it held go back to the queue
  after the visibility timeout (shortened here to a few seconds with
  CELERY_VISIBILITY_TIMEOUT), the job runs again from where the database says
  it stopped, and no member gets a digest twice.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter

import pytest
import redis as redis_client
from celery import Celery

from cronjobs.celeryapp import QUEUE
from cronjobs.tasks import TASK_NAMES
from tests.reliability.conftest import query, shared_platform
from tests.reliability.redisserver import redis_server
from tests.reliability.stream import Stream, check_nothing_lost, make_group

pytestmark = pytest.mark.e2e

VISIBILITY_TIMEOUT = 4  # seconds before a killed worker's messages are handed out again
DIGEST_MEMBERS = 300
DIGEST_POSITIONS = 24  # members stand at this many places in the archive: that many batches
DIGEST_POSTS = 36

DIGEST_SETUP = f"""
from groups.membership import add_members
from groups.models import Group, Membership
from messageserver import pipeline
group = Group.objects.create(name="digesters", title="Digesters")
add_members(group, ["dora@example.org"], role=Membership.Role.OWNER)
add_members(group, [f"m{{i}}@digest.example" for i in range({DIGEST_MEMBERS})],
            delivery=Membership.Delivery.DIGEST)
for n in range({DIGEST_POSTS}):
    raw = (f"From: dora@example.org\\r\\nTo: digesters@groups.localhost\\r\\n"
           f"Subject: news {{n}}\\r\\nMessage-ID: <news-{{n}}@digest.example>\\r\\n\\r\\n"
           f"News item {{n}}.\\r\\n").encode()
    pipeline.handle_inbound("dora@example.org", ["digesters@groups.localhost"], raw)
# Members who have had digests up to different messages: each place is its own batch.
for i, pk in enumerate(Membership.objects.filter(group=group, delivery="digest")
                       .order_by("id").values_list("pk", flat=True)):
    Membership.objects.filter(pk=pk).update(digest_last_number=i % {DIGEST_POSITIONS})
"""


@pytest.fixture(scope="module")
def redis_mode(tmp_path_factory):
    root = tmp_path_factory.mktemp("celeryfaults")
    with redis_server(root) as server, \
            shared_platform(root, REDIS_URL=server.url,
                            CELERY_VISIBILITY_TIMEOUT=str(VISIBILITY_TIMEOUT)) as p:
        make_group(p)
        p.manage("shell", "-c", DIGEST_SETUP)
        p.start()
        p.start("scheduler")
        yield p, server


def celery_client(server) -> Celery:
    """A bare client of the platform's broker: sends tasks by name, as beat does."""
    return Celery("faulttest", broker=server.url, set_as_current=False)


def indexed(p, tag: str) -> int:
    (n,), = query(p, "select count(*) from search_document d join groups_message m "
                     f"on m.id = d.message_id where m.message_id like '%{tag}%'")
    return n


def wait_until(check, timeout: float, step: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step)
    return check()


def full_log(p, name: str) -> str:
    return (p.root / f"{name}.log").read_text(errors="replace")


def worker_log(p) -> str:
    return full_log(p, "scheduler")


def test_redis_killed_while_posts_flow_loses_nothing(redis_mode, outcomes):
    p, server = redis_mode
    index_runs = worker_log(p).count("search.index_message[")
    stream = Stream(p.ports["smtpd"], posts=12, pause=0.5).start()
    time.sleep(1.5)
    server.kill()
    down_at = time.monotonic()
    time.sleep(5)
    during = len([t for t in stream.accepted_at if t > down_at])
    server.start()
    stream.join()
    figures = check_nothing_lost(p, stream, delivery_slack=0)
    assert stream.retries == 0, stream.refusals  # the mail path does not need Redis
    inline = full_log(p, "messageserver").count("indexing it now")
    assert during > 0 and inline > 0, (during, inline)
    # the worker reconnects by itself and indexes what was queued after Redis came back
    assert wait_until(lambda: worker_log(p).count("search.index_message[") > index_runs, 30)
    wait_until(lambda: indexed(p, stream.tag) == stream.total, 10)
    lost_from_queue = stream.total - indexed(p, stream.tag)
    celery_client(server).send_task(TASK_NAMES["housekeeping"], queue=QUEUE)
    assert wait_until(lambda: indexed(p, stream.tag) == stream.total, 30), (
        f"{stream.total - indexed(p, stream.tag)} accepted posts never became searchable")
    outcomes.add("fault", f"Redis killed 5s (nothing saved) in a stream of {stream.total} posts",
                 f"mail unaffected (0 retries, all delivered once); {during} posts archived "
                 f"meanwhile, {inline} indexed inline; worker reconnected; {lost_from_queue} "
                 f"index tasks lost with Redis, indexed by the catch-up: all searchable")
    assert figures["repeated"] == 0


def digest_runs(p) -> list[tuple[str, int, int]]:
    return query(p, "select m.email, d.first_number, d.last_number from groups_digestrun d "
                    "join groups_membership m on m.id = d.membership_id")


def digests_received(p) -> Counter:
    with p.sink.lock:
        return Counter(r for m in p.sink.messages for r in m.rcpt_tos
                       if r.endswith("@digest.example"))


def test_worker_killed_mid_senddigests_in_a_stream_runs_it_again_sending_nothing_twice(
        redis_mode, outcomes):
    p, server = redis_mode
    broker = redis_client.Redis.from_url(server.url)
    stream = Stream(p.ports["smtpd"], posts=10, pause=0.4).start()
    task_id = celery_client(server).send_task(TASK_NAMES["senddigests"], queue=QUEUE).id
    assert wait_until(lambda: len(digest_runs(p)) > 0, 30, step=0.02), worker_log(p)[-3000:]
    p.kill("scheduler")  # SIGKILL in the middle of the job
    killed_at = time.monotonic()
    at_kill = len(digest_runs(p))
    held = broker.hlen("unacked")  # what the dead worker had taken and not acknowledged
    assert held >= 1  # at least the job it was running
    time.sleep(1)
    p.start("scheduler")
    done = f"Task cronjobs.senddigests[{task_id}] succeeded"
    assert wait_until(lambda: done in worker_log(p), 60), worker_log(p)[-3000:]
    again = time.monotonic() - killed_at
    stream.join()
    figures = check_nothing_lost(p, stream, delivery_slack=0)
    # the indexing tasks queued or held while the worker was dead are all run
    assert wait_until(lambda: indexed(p, stream.tag) == stream.total, 20), (
        f"{stream.total - indexed(p, stream.tag)} posts not indexed after the worker came back")

    assert worker_log(p).count(f"Task cronjobs.senddigests[{task_id}] received") == 2
    runs = digest_runs(p)
    assert 0 < at_kill < len(runs), (at_kill, len(runs))
    assert "0 digests due" in p.manage("senddigests", "--dry-run").stdout
    per_member: dict[str, list[tuple[int, int]]] = {}
    for email, first, last in runs:
        per_member.setdefault(email, []).append((first, last))
    for email, spans in per_member.items():
        spans.sort()
        assert all(a[1] < b[0] for a, b in itertools.pairwise(spans)), (email, spans)
    want = Counter({email: len(spans) for email, spans in per_member.items()})
    assert wait_until(lambda: digests_received(p) == want, 60), (
        f"digests differ from the runs recorded: "
        f"{(digests_received(p) - want) + (want - digests_received(p))}")
    outcomes.add("fault", f"kill -9 worker mid-senddigests ({len(per_member)} members)",
                 f"{at_kill} of {len(runs)} digests done at the kill; job redelivered and "
                 f"finished {again:.0f}s later; every member got each digest once")
    outcomes.add("fault", f"kill -9 worker in a stream of {stream.total} posts",
                 f"{held} unacked tasks held at the kill, redelivered; all archived, delivered "
                 f"({figures['repeated']} repeated) and searchable")
