"""Markdown posts from the web and HTML mail in the archive (#17 item 2).

Posts go through the real messageserver over HTTP (the ``messageserver``
fixture); the first test hands the fan-out to a real Karl process delivering
to an SMTP sink, and reads what members receive back with Python's email
package: multipart/alternative with the Markdown source and the rendered HTML,
each with its footer, inline pictures in a multipart/related.
"""

from __future__ import annotations

import base64
import email
import email.policy
import re
import time
from email.message import EmailMessage

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from groups.models import Attachment, Membership, Message, OutboxItem
from karl.client import KarlClient
from messageserver import mailparse, outbox
from platformcore import markdown
from platformcore.env import get_env
from tests.conftest import built_jobs
from tests.groups.web.conftest import make_post
from tests.karl.conftest import KarlProcess, start_sink
from tests.messageserver.mailhandling.karlcopy import check_parsed, copies

pytestmark = pytest.mark.django_db(transaction=True)

SOURCE = """Plan for **Saturday**:

1. Meet at the *oak*
2. Walk the ridge

```python
def pace(km, hours):
    return km / hours
```

| Stage | km |
|-------|---:|
| Ridge | 12 |
"""

PNG = base64.b64decode(  # a 1x1 transparent PNG
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=")


def _post(client, **fields):
    data = {"subject": "Saturday plan", "text_format": "markdown", "body": SOURCE, **fields}
    return client.post(reverse("new_topic", args=["hikers"]), data)


def _job(message: Message) -> dict:
    built_jobs()
    return OutboxItem.objects.get(description=f"hikers #{message.number}").payload


def _parts(msg: EmailMessage) -> dict[str, EmailMessage]:
    """The body parts by type (the first of each)."""
    out: dict[str, EmailMessage] = {}
    for part in msg.walk():
        out.setdefault(part.get_content_type(), part)
    return out


@pytest.fixture
def karl_and_sink(messageserver, tmp_path, monkeypatch):
    sink = start_sink()
    data = tmp_path / "karl"
    data.mkdir()
    token = get_env().internal_api_token
    karl = KarlProcess(data, sink.url, messageserver, {"INTERNAL_API_TOKEN": token}).start()
    monkeypatch.setenv("KARL_URL", karl.url)
    yield sink, KarlClient(karl.url, token)
    karl.stop()
    sink.controller.stop()


def test_a_markdown_post_is_delivered_as_multipart_alternative_with_both_footers(
        group, clients, karl_and_sink, settings, tmp_path):
    settings.ATTACHMENTS_DIR = tmp_path / "files"
    sink, karl = karl_and_sink
    Membership.objects.create(group=group, email="erin@example.net")
    response = _post(clients["bob"])
    assert response.status_code == 302, response.content.decode()[:3000]
    msg = Message.objects.get(subject="Saturday plan")
    assert msg.markdown and msg.body_text.replace("\r\n", "\n") == SOURCE
    assert outbox.dispatch_due(client=karl) >= 1
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(
            r.rcpt == "erin@example.net" for r in sink.handler.received()):
        time.sleep(0.1)
    [got] = [r for r in sink.handler.received() if r.rcpt == "erin@example.net"]
    mail = check_parsed(got.data)  # no MIME defects
    assert mail.get_content_type() == "multipart/alternative"
    plain, html = mail.get_payload()
    assert plain.get_content_type() == "text/plain" and html.get_content_type() == "text/html"
    # (as sent over SMTP, with CRLF line ends)
    text, markup = (p.get_content().replace("\r\n", "\n") for p in (plain, html))
    assert text.startswith(SOURCE.rstrip("\n"))  # the Markdown source, as typed
    fragment = markdown.render(SOURCE)
    assert fragment in markup  # the rendered post, untouched by the footer
    assert '<span class="k">def</span>' in markup and "pre.highlight .k" in markup
    url = f"/g/hikers/message/{msg.number}/"
    # each part has its footer, the HTML one before </body>
    assert url in text.split(SOURCE.rstrip("\n"), 1)[1]
    assert url in markup.split(fragment, 1)[1] and markup.index(url) < markup.index("</body>")
    # the archive shows exactly the mail's HTML body
    assert msg.body_html == fragment.strip()
    page = clients["anon"].get(url).content.decode()
    assert fragment.strip() in page and "<pre>Plan for" not in page


def test_inline_picture_and_attachment_make_mixed_alternative_related(
        group, clients, messageserver, settings, tmp_path):
    settings.ATTACHMENTS_DIR = tmp_path
    Membership.objects.create(group=group, email="erin@example.net")
    picture = SimpleUploadedFile("ridge view.png", PNG, content_type="image/png")
    notes = SimpleUploadedFile("route.txt", b"left at the oak", content_type="text/plain")
    response = _post(clients["bob"], body="The view:\n\n![From the top](ridge%20view.png)\n",
                     attachments=[picture, notes])
    assert response.status_code == 302, response.content.decode()[:3000]
    msg = Message.objects.get(subject="Saturday plan")
    job = _job(msg)
    raw = base64.b64decode(job["message_b64"])
    sent = email.message_from_bytes(raw, policy=email.policy.default)
    assert [p.get_content_type() for p in sent.walk()] == [
        "multipart/mixed", "multipart/alternative", "text/plain", "multipart/related",
        "text/html", "image/png", "text/plain"]
    parts = _parts(sent)
    image = parts["image/png"]
    cid = image["Content-ID"].strip("<>")
    assert f'src="cid:{cid}"' in parts["text/html"].get_content()
    assert image.get_content() == PNG and image.get_filename() == "ridge view.png"
    # every member's copy, built by Karl's composer: valid MIME, footer in both text parts
    for copy in copies(job):
        got = check_parsed(copy)
        bodies = [p.get_content() for p in got.walk()
                  if p.get_content_type() in ("text/plain", "text/html")
                  and p.get_filename() is None]
        assert len(bodies) == 2
        assert all(f"/g/hikers/message/{msg.number}/" in b for b in bodies)
        assert [p.get_filename() for p in got.walk() if p.get_filename()] == [
            "ridge view.png", "route.txt"]
    # the archive shows the picture in place, from the stored attachment
    att = Attachment.objects.get(message=msg, content_type="image/png")
    assert att.content_id == cid
    page = clients["anon"].get(reverse("message", args=["hikers", msg.number])).content.decode()
    shown = reverse("attachment", args=["hikers", att.pk, att.filename])
    assert f'<img src="{shown}" alt="From the top">' in page
    assert b"".join(clients["anon"].get(shown).streaming_content) == PNG


def test_preview_shows_the_rendering_and_sends_nothing(group, clients, messageserver):
    response = _post(clients["bob"], preview="1")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="preview-heading"' in page
    assert '<pre class="highlight"><code><span class="k">def</span>' in page
    assert "<strong>Saturday</strong>" in page and "<td>Ridge</td>" in page
    assert "Plan for **Saturday**" in page  # the text stays in the form
    assert not Message.objects.exists() and not OutboxItem.objects.exists()


def test_preview_never_runs_what_was_typed(group, clients, messageserver):
    response = _post(clients["bob"], preview="1",
                     body='<script>alert(1)</script><img src=x onerror="alert(2)"> ok')
    page = response.content.decode()
    preview = page[page.index('id="preview-heading"'):page.index("<form")]
    assert "<script>alert(1)" not in preview and "onerror" not in preview
    assert "&lt;script&gt;alert(1)" in page  # only in the textarea, as text


def test_a_picture_named_but_not_attached_is_a_form_error(group, clients, messageserver):
    response = _post(clients["bob"], body="Look: ![view](view.jpg)")
    assert response.status_code == 400
    assert "“view.jpg” is shown in the message but not attached" in response.content.decode()
    assert not Message.objects.exists()


def test_a_named_file_that_is_no_picture_is_a_form_error(group, clients, messageserver):
    pdf = SimpleUploadedFile("map.pdf", b"%PDF-1.4", content_type="application/pdf")
    response = _post(clients["bob"], body="![map](map.pdf)", attachments=[pdf])
    assert response.status_code == 400
    assert "“map.pdf” is not a PNG, JPEG, GIF or WebP picture" in response.content.decode()


def test_an_inline_picture_over_the_groups_limit_is_refused(group, clients, messageserver):
    group.max_attachment_size = 10
    group.save()
    picture = SimpleUploadedFile("big.png", PNG, content_type="image/png")
    response = _post(clients["bob"], body="![big](big.png)", attachments=[picture])
    assert response.status_code == 400
    assert "big.png is larger than this group&#x27;s limit" in response.content.decode()


def test_plain_text_posts_stay_single_part(group, clients, messageserver):
    response = _post(clients["bob"], text_format="plain", body="Just **text**.")
    assert response.status_code == 302
    msg = Message.objects.get(subject="Saturday plan")
    assert not msg.markdown and msg.body_html == ""
    sent = email.message_from_bytes(base64.b64decode(_job(msg)["message_b64"]),
                                    policy=email.policy.default)
    assert sent.get_content_type() == "text/plain"
    assert "<pre>Just **text**.</pre>" in clients["anon"].get(
        reverse("message", args=["hikers", msg.number])).content.decode()


HTML_MAIL = """\
<html><head><style>p { color: red }</style><script>alert("x")</script></head>
<body onload="alert(1)"><p style="color:red">Hello <b>all</b>, <i>see</i>
<a href="https://example.org/route" onclick="steal()">the route</a>:</p>
<table border="1"><tr><th>Day</th><th>km</th></tr><tr><td>Sat</td><td>12</td></tr></table>
<ul><li>boots</li><li>water</li></ul>
<blockquote>Earlier: are we walking?</blockquote>
<img src="https://tracker.example/p.gif"></body></html>"""


def test_html_mail_is_shown_formatted_as_sent_and_sanitised(group, clients):
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "Bob <bob@example.org>", "hikers@x", "Route"
    mail.set_content("Hello all, see the route (plain part)")
    mail.add_alternative(HTML_MAIL, subtype="html")
    parsed = mailparse.parse(mail.as_bytes())
    msg = make_post(group, "Route", text=parsed.text, html=parsed.html)
    page = clients["anon"].get(reverse("message", args=["hikers", msg.number])).content.decode()
    body = page[page.index('<div class="body html">'):page.index("</article>")]
    for kept in ("<b>all</b>", "<i>see</i>", "<th>Day</th>", "<td>12</td>", "<li>boots</li>",
                 "<blockquote>Earlier: are we walking?</blockquote>",
                 '<a href="https://example.org/route" rel="noopener noreferrer nofollow">'):
        assert kept in body, kept
    for gone in ("<script", "alert", "onload", "onclick", "style", "color: red",
                 '<img src="https://tracker'):
        assert gone not in body, gone
    assert "(plain part)" not in body and "[remote image removed" in body


def test_old_plain_posts_keep_their_quoted_text_folded(group, clients):
    msg = make_post(group, "Re: walk", text="Yes!\n\n> Are we walking?\n> Tell me")
    page = clients["anon"].get(reverse("message", args=["hikers", msg.number])).content.decode()
    assert re.search(r"<details class=\"quote\"><summary>Show quoted text</summary>", page)
