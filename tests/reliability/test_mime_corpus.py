"""Every message of the odd-MIME corpus, posted by a member through the real smtpd.

One platform for the whole corpus. Each message (its From replaced by bob's,
so the posting rules let it through and only its MIME is on trial) must be
either archived, and then its message and topic pages render 200 on the web,
or refused with a 5xx SMTP reply that says why. A 4xx would mean an internal
API failed (messageserver answering 5xx makes smtpd say 451); a dropped
connection would mean a crash. Afterwards every process must be alive and
errord must hold no error group.
"""

from __future__ import annotations

import re
import smtplib
from pathlib import Path

import httpx
import pytest

from tests.conftest import CORPORA
from tests.reliability.conftest import alive, error_groups, query, shared_platform

pytestmark = pytest.mark.e2e

MIME = CORPORA / "mime"
MESSAGES = sorted(MIME.glob("*/*.eml"))
MEMBER = "bob@example.org"


def as_bobs_post(raw: bytes) -> bytes:
    """The message with its top-level From (and continuation lines) replaced by bob's."""
    lines = raw.replace(b"\r\n", b"\n").split(b"\n")
    out: list[bytes] = [b"From: Bob Member <bob@example.org>"]
    in_from = False
    for i, line in enumerate(lines):
        if line == b"":  # end of the top-level header block: the rest is the body
            out.extend(lines[i:])
            break
        if in_from and line[:1] in (b" ", b"\t"):
            continue
        in_from = line[:5].lower() == b"from:"
        if not in_from:
            out.append(line)
    return b"\r\n".join(out)


@pytest.fixture(scope="module")
def corpus_platform(tmp_path_factory):
    with shared_platform(tmp_path_factory.mktemp("mime")) as p:
        p.manage("creategroup", "odd", "--owner", "alice@example.org", "--title", "Odd MIME")
        p.manage("addmembers", "odd", "Bob Member <bob@example.org>")
        p.start()
        yield p


def test_every_corpus_message_is_archived_or_refused_with_a_reason(corpus_platform, outcomes):
    assert len(MESSAGES) >= 100, f"the corpus is missing: {MIME}"
    p = corpus_platform
    archived, refused, problems = [], [], []
    for path in MESSAGES:
        name = str(path.relative_to(MIME))
        try:
            with smtplib.SMTP("127.0.0.1", p.ports["smtpd"], timeout=60) as smtp:
                smtp.sendmail(MEMBER, ["odd@groups.localhost"], as_bobs_post(path.read_bytes()))
            archived.append(name)
        except smtplib.SMTPResponseException as exc:
            reason = exc.smtp_error.decode("utf-8", "replace")
            if 500 <= exc.smtp_code < 600 and re.search(r"[a-z]{4}", reason):
                refused.append(f"{name}: {exc.smtp_code} {reason}")
            else:
                problems.append(f"{name}: {exc.smtp_code} {reason}")
        except (smtplib.SMTPException, OSError) as exc:
            problems.append(f"{name}: {type(exc).__name__} {exc}")
    assert problems == [], "\n".join(problems)
    assert alive(p) == [], "a process died on the corpus"

    # Every accepted post is in the archive, and its pages render.
    rows = query(p, "select m.number, m.topic_id from groups_message m join groups_group g "
                    "on g.id = m.group_id where g.name = 'odd' order by m.number")
    held = query(p, "select count(*) from groups_heldmessage")[0][0]
    # Byte-identical posts without a Message-ID are one message sent twice (a retry).
    distinct = len({as_bobs_post((MIME / name).read_bytes()) for name in archived})
    assert len(rows) + held == distinct, (len(rows), held, distinct, len(archived))
    bad_pages = []
    with httpx.Client(base_url=p.url("web"), timeout=30) as web:
        for number, topic_id in rows:
            for url in (f"/g/odd/message/{number}/", f"/g/odd/topic/{topic_id}/"):
                r = web.get(url)
                if r.status_code != 200:
                    bad_pages.append(f"{url}: {r.status_code}")
        for url in ("/g/odd/", "/g/odd/topics/", "/g/odd/feed.atom"):
            if (r := web.get(url)).status_code != 200:
                bad_pages.append(f"{url}: {r.status_code}")
    assert bad_pages == [], bad_pages
    errors = error_groups(p)
    assert errors == [], errors
    assert alive(p) == []
    outcomes.add("odd MIME", f"{len(MESSAGES)} corpus messages through smtpd",
                 f"{len(rows)} archived (pages 200), {held} held, {len(refused)} refused "
                 "with a reason; no crash, no errord group")
    if refused:
        print("refused:\n" + "\n".join(refused))


def test_the_rewrite_keeps_the_body_untouched():
    """as_bobs_post changes the From header only: the MIME on trial is the corpus's own."""
    raw = Path(MESSAGES[0]).read_bytes().replace(b"\r\n", b"\n")
    body = raw.split(b"\n\n", 1)[1]
    rewritten = as_bobs_post(raw).replace(b"\r\n", b"\n")
    assert rewritten.split(b"\n\n", 1)[1] == body
    assert rewritten.startswith(b"From: Bob Member <bob@example.org>\n")
    assert rewritten.lower().count(b"\nfrom:") == 0
