"""The website under attack: stored XSS by email, header injection, tampered links, probing.

One platform for the module: "pub" (public, bob a member) and "secret"
(hidden, sam a member), both owned by olivia; mallory is a registered
outsider. Attacks arrive the way a real attacker sends them: XSS payloads in
a post mailed through the real smtpd, web posts through the real forms with
their CSRF tokens, links copied from the mail Karl really delivered.

Pages are checked with an HTML parser (the payload must come back as text,
never as an element, an event-handler attribute or a javascript: URL) and,
when /usr/bin/chromium exists, in headless Chromium (no payload may run).
"""

from __future__ import annotations

import email
import email.policy
import re
import smtplib
from email.message import EmailMessage
from html.parser import HTMLParser

import httpx
import pytest

from tests.e2e.platform import Platform
from tests.reliability.conftest import alive, query, shared_platform

pytestmark = pytest.mark.e2e

PASSWORD = "a long reliability-test passphrase"
MARK = "__xss_ran"
PAYLOADS = [
    f"<script>window.{MARK}=1</script>",
    f'<img src=x onerror="window.{MARK}=1">',
    f'"><svg onload=window.{MARK}=1>',
    f"'><iframe src=javascript:window.{MARK}=1>",
]
SETUP = f"""
from groups.membership import add_members
from groups.models import Group, Membership, User

for email, name in [("olivia@example.org", "Olivia Owner"), ("bob@example.org", "Bob"),
                    ("sam@example.org", "Sam Secret"), ("mallory@example.net", "Mallory")]:
    User.objects.create_user(username=email, email=email, password={PASSWORD!r},
                             display_name=name, email_confirmed=True)
pub = Group.objects.create(name="pub", title="Public")
add_members(pub, ["Olivia Owner <olivia@example.org>"], role=Membership.Role.OWNER)
add_members(pub, ["Bob <bob@example.org>"])
secret = Group.objects.create(name="secret", title="Secret", privacy=Group.Privacy.HIDDEN)
add_members(secret, ["Olivia Owner <olivia@example.org>"], role=Membership.Role.OWNER)
add_members(secret, ["Sam Secret <sam@example.org>"])
print("ready")
"""


def send(p: Platform, msg: EmailMessage) -> None:
    with smtplib.SMTP("127.0.0.1", p.ports["smtpd"], timeout=30) as smtp:
        smtp.send_message(msg)


def xss_post() -> EmailMessage:
    payload = " ".join(PAYLOADS)
    msg = EmailMessage()
    msg["From"] = f'"{PAYLOADS[1]}" <bob@example.org>'
    msg["To"] = "pub@groups.localhost"
    msg["Subject"] = f"xss subject {PAYLOADS[0]} {PAYLOADS[2]}"
    msg.set_content(f"xss body text {payload}\n")
    msg.add_alternative(f"<p>xss body html {payload}</p>"
                        f'<a href="javascript:window.{MARK}=1">click</a>'
                        f'<p onmouseover="window.{MARK}=1">hover</p>', subtype="html")
    msg.add_attachment(b"harmless", maintype="application", subtype="octet-stream",
                       filename=f"{PAYLOADS[1]}.txt")
    return msg


def secret_post() -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"] = "Sam Secret <sam@example.org>", "secret@groups.localhost"
    msg["Subject"] = "zanzibar plans"
    msg.set_content("The zanzibar password is swordfish.\n")
    msg.add_attachment(b"zanzibar map", maintype="text", subtype="plain", filename="map.txt")
    return msg


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with shared_platform(tmp_path_factory.mktemp("web")) as p:
        assert "ready" in p.manage("shell", "--no-imports", "-c", SETUP).stdout
        p.start()
        send(p, xss_post())
        send(p, secret_post())
        p.sink.wait_for(4)  # pub: olivia, bob; secret: olivia, sam
        p.manage("reindex")  # whatever the indexing mode, search now sees both posts
        yield p
        assert alive(p) == []


class Scan(HTMLParser):
    """Finds live markup that came from a payload: elements, handlers, javascript: URLs."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.live: list[str] = []
        self.text: list[str] = []
        self.in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.in_script = tag == "script"
        for name, value in attrs:
            value = value or ""
            if name.startswith("on") and MARK in value:
                self.live.append(f"<{tag} {name}={value!r}>")
            if name in ("href", "src", "action", "formaction") and re.match(
                    r"\s*(javascript|vbscript|data):", value, re.I):
                self.live.append(f"<{tag} {name}={value!r}>")
        if tag in ("svg", "iframe"):
            self.live.append(f"<{tag}>")

    def handle_endtag(self, tag: str) -> None:
        self.in_script = False

    def handle_data(self, data: str) -> None:
        if self.in_script and MARK in data:
            self.live.append(f"<script>{data}</script>")
        elif not self.in_script:
            self.text.append(data)


def scan(html: str) -> Scan:
    s = Scan()
    s.feed(html)
    s.close()
    return s


def login(p: Platform, address: str) -> httpx.Client:
    client = httpx.Client(base_url=p.url("web"), timeout=20)
    page = client.get("/accounts/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    r = client.post("/accounts/login/", data={"csrfmiddlewaretoken": token,
                                              "username": address, "password": PASSWORD})
    assert r.status_code == 302, (r.status_code, r.text[:300])
    return client


def pub_pages(p: Platform) -> list[str]:
    [(number, topic_id)] = query(p, "select m.number, m.topic_id from groups_message m join "
                                    "groups_group g on g.id = m.group_id where g.name = 'pub'")
    return ["/g/pub/", "/g/pub/topics/", f"/g/pub/topic/{topic_id}/",
            f"/g/pub/message/{number}/", "/search/?q=xss", "/"]


def test_xss_payloads_by_email_come_back_as_text(site, outcomes):
    checked = []
    for path in pub_pages(site):
        r = httpx.get(site.url("web", path), timeout=20)
        assert r.status_code == 200, (path, r.status_code)
        found = scan(r.text)
        assert found.live == [], (path, found.live)
        checked.append(path)
    topic = scan(httpx.get(site.url("web", pub_pages(site)[2]), timeout=20).text)
    text = "".join(topic.text)
    for piece in ("xss subject", PAYLOADS[0], "xss body", f"{PAYLOADS[1]}.txt"):
        assert piece in text, f"{piece!r} not shown as text on the topic page"
    # The hostile filename still names a working download link.
    [href] = re.findall(r'href="(/g/pub/attachment/[^"]+)"', httpx.get(
        site.url("web", pub_pages(site)[3]), timeout=20).text)
    download = httpx.get(site.url("web", href), timeout=20)
    assert download.status_code == 200 and download.content == b"harmless", (href, download)
    outcomes.add("web", f"stored XSS by email (subject, name, text, HTML, filename) on "
                 f"{len(checked)} pages", "escaped: shown as text, no live markup (HTML parser)")


def test_xss_payloads_do_not_run_in_chromium(site, outcomes, browser):
    ran, alerts = [], []
    context = browser.new_context()
    try:
        page = context.new_page()
        page.on("dialog", lambda d: (alerts.append(d.message), d.dismiss()))
        for path in pub_pages(site):
            page.goto(site.url("web", path))
            page.wait_for_load_state("load")
            page.hover("body")
            page.wait_for_timeout(150)  # let an onerror of a broken image fire
            if page.evaluate(f"() => window.{MARK} !== undefined"):
                ran.append(path)
    finally:
        context.close()
    assert ran == [] and alerts == [], (ran, alerts)
    outcomes.add("web", "the same pages in headless Chromium", "no payload ran")


def test_header_injection_through_a_web_post_is_refused(site, outcomes):
    bob = login(site, "bob@example.org")
    form = bob.get("/g/pub/new/")
    assert form.status_code == 200
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    before = query(site, "select count(*) from groups_message")[0][0]
    sink_before = len(site.sink.messages)
    for subject in ["hello\r\nBcc: victim@example.com", "hello\nBcc: victim@example.com",
                    "hello\rX-Injected: 1"]:
        r = bob.post("/g/pub/new/", data={"csrfmiddlewaretoken": token, "subject": subject,
                                          "body": "injected?"})
        assert r.status_code in (200, 400), r.status_code  # the form again, not a redirect
        assert "one line" in r.text or "line break" in r.text, r.text[:500]
    # and straight at messageserver's API, which the website calls
    api = httpx.post(site.url("messageserver", "/v1/posts"), timeout=20,
                     headers={"Authorization": f"Bearer {site.token}"},
                     json={"group": "pub", "sender_email": "bob@example.org",
                           "subject": "x\r\nBcc: victim@example.com", "text": "injected?"})
    assert api.status_code == 422 and "subject" in api.json()["fields"]
    assert query(site, "select count(*) from groups_message")[0][0] == before
    assert not any("victim@example.com" in m.rcpt_tos for m in site.sink.messages[sink_before:])
    bob.close()
    outcomes.add("web", "CR/LF in a web post's subject (form and /v1/posts)",
                 "refused with a message; nothing archived or sent")


def test_tampered_and_misused_signed_links_get_400(site, outcomes):
    copy = next(m for m in site.sink.messages if m.rcpt_tos == ["bob@example.org"])
    msg = email.message_from_bytes(copy.data, policy=email.policy.default)
    link = re.search(r"<(https?://[^>]+)>", msg["List-Unsubscribe"]).group(1)
    token = link.rstrip("/").rsplit("/", 1)[1]
    assert httpx.get(link, timeout=20).status_code == 200  # the genuine link works
    # tokens are lowercase hex and read case-insensitively: change the digit itself
    flipped = token[:-2] + ("0" if token[-2] != "0" else "1") + token[-1]
    tried = 0
    for junk in ["..%2f..%2fetc", "%00", "a/b"]:  # may not even route: 400 or 404
        r = httpx.get(site.url("web", f"/unsubscribe/{junk}/"), timeout=20)
        assert r.status_code in (400, 404), (junk, r.status_code)
    for bad in [flipped, token[:-6], token + "x", "x" * 40, token[:2] + token[:2:-1]]:
        for path in [f"/unsubscribe/{bad}/", f"/mute/{bad}/", f"/moderate/{bad}/",
                     f"/confirm/subscription/{bad}/", f"/confirm/email/{bad}/",
                     f"/restore/{bad}/"]:
            r = httpx.get(site.url("web", path), timeout=20)
            assert r.status_code == 400, (path, r.status_code)
            tried += 1
        r = httpx.post(site.url("web", f"/unsubscribe/{bad}/"),
                       data={"List-Unsubscribe": "One-Click"}, timeout=20)
        assert r.status_code == 400, (bad, r.status_code)
    # A genuine unsubscribe token is not an approval, confirmation or restore token.
    for path in [f"/moderate/{token}/", f"/confirm/subscription/{token}/",
                 f"/confirm/email/{token}/", f"/restore/{token}/", f"/mute/{token}/"]:
        r = httpx.get(site.url("web", path), timeout=20)
        assert r.status_code == 400, (path, r.status_code)
        tried += 1
    status = query(site, "select status from groups_membership where email = 'bob@example.org'")
    assert status == [("active",)]
    outcomes.add("web", f"{tried} tampered or cross-purpose signed links",
                 "400 each; nobody unsubscribed")


def test_a_hidden_group_is_not_there_for_outsiders(site, outcomes):
    [(number, topic_id)] = query(site, "select m.number, m.topic_id from groups_message m join "
                                       "groups_group g on g.id = m.group_id "
                                       "where g.name = 'secret'")
    [(att_id, filename)] = query(site, "select a.id, a.filename from groups_attachment a join "
                                       "groups_message m on m.id = a.message_id join "
                                       "groups_group g on g.id = m.group_id "
                                       "where g.name = 'secret'")
    probes = ["/g/secret/", "/g/secret/topics/", f"/g/secret/topic/{topic_id}/",
              f"/g/secret/message/{number}/", f"/g/secret/message/{number + 1}/",
              f"/g/secret/attachment/{att_id}/{filename}", f"/g/secret/attachment/{att_id}/x",
              "/g/secret/feed.atom", f"/g/pub/attachment/{att_id}/{filename}",
              f"/g/secret/message/{number}/reply/", "/g/secret/new/", "/g/secret/admin/"]
    sam = login(site, "sam@example.org")
    assert sam.get(f"/g/secret/message/{number}/").status_code == 200  # members see it
    assert sam.get(f"/g/secret/attachment/{att_id}/{filename}").status_code == 200
    assert "/g/secret/" in sam.get("/search/?q=zanzibar").text  # search finds it, for him
    sam.close()
    mallory = login(site, "mallory@example.net")
    anonymous = httpx.Client(base_url=site.url("web"), timeout=20)
    for who, client in [("anonymous", anonymous), ("mallory", mallory)]:
        for path in probes:
            r = client.get(path)
            # Exactly what a group that does not exist gives (a 404, or the login page
            # where a view asks for a login first): nothing tells the group is there.
            ghost = client.get(path.replace("/g/secret/", "/g/nosuchgroup/"))
            assert r.status_code == ghost.status_code and r.status_code in (302, 404), (
                who, path, r.status_code, ghost.status_code)
            if r.status_code == 302:
                assert "/accounts/login/" in r.headers["location"], (who, path)
            assert "zanzibar" not in r.text and "swordfish" not in r.text, (who, path)
        # The query is echoed in the search box, so look for what only a hit would show.
        for path, hit in [("/search/?q=zanzibar", "swordfish"),
                          ("/search/?q=swordfish&group=secret", "zanzibar"),
                          ("/search/?q=zanzibar&author=sam@example.org", "swordfish"),
                          ("/search/?q=map", "zanzibar"), ("/", "zanzibar")]:
            r = client.get(path)
            assert r.status_code in (200, 404), (who, path, r.status_code)
            assert hit not in r.text and "/g/secret/" not in r.text, (who, path)
    mallory.close()
    anonymous.close()
    outcomes.add("web", f"hidden group probed by an outsider and anonymously ({len(probes)} "
                 "URLs, search, directory)", "404 (or login) exactly as for no group; not in search")


def test_forms_refuse_posts_without_their_csrf_token(site, outcomes):
    """A cross-site form post (no CSRF cookie or token) changes nothing."""
    forms = ["/accounts/login/", "/accounts/signup/", "/accounts/password-reset/",
             "/g/pub/join/", "/g/pub/new/", "/g/pub/admin/settings/"]
    bob = login(site, "bob@example.org")
    for path in forms:
        anonymous = httpx.post(site.url("web", path), data={"subject": "x", "body": "y"},
                               timeout=20)
        assert anonymous.status_code == 403, (path, anonymous.status_code)
        # logged in, but the form's token missing: still refused
        forged = bob.post(path, data={"subject": "x", "body": "y"})
        assert forged.status_code == 403, (path, forged.status_code)
    outcomes.add("web", f"CSRF: {len(forms)} forms posted without their token, "
                        "anonymous and logged in", "403 each; nothing changed")


def test_brute_force_login_is_rate_limited(site, outcomes):
    """Runs last in the module: it makes this client wait (growing delays, no lockout)."""
    client = httpx.Client(base_url=site.url("web"), timeout=20)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"',
                      client.get("/accounts/login/").text).group(1)
    limited_after = None
    for attempt in range(1, 16):
        r = client.post("/accounts/login/", data={"csrfmiddlewaretoken": token,
                                                  "username": "mallory@example.net",
                                                  "password": f"guess {attempt}"})
        assert r.status_code == 200, r.status_code  # the form again, never a session
        if "Too many failed attempts" in r.text:
            limited_after = attempt
            break
    assert limited_after is not None and limited_after <= 7, limited_after
    right = client.post("/accounts/login/", data={"csrfmiddlewaretoken": token,
                                                  "username": "mallory@example.net",
                                                  "password": PASSWORD})
    assert right.status_code == 200 and "Too many failed attempts" in right.text
    assert "sessionid" not in client.cookies
    outcomes.add("web", "brute-force login on one account",
                 f"slowed after {limited_after} tries (growing waits); even the right "
                 "password waits, from this client only")
