"""Every page a person reaches passes axe-core's automated checks, fits a 360 px phone
without sideways scrolling, and the main journeys work by keyboard alone.

The pages are not listed by hand: they come from groups/web/urls.py, each URL's
arguments filled from objects this module creates (a topic, a message, a held post,
a saved reason, a hashtag, a feed, signed links...). A URL added later is visited
automatically; one whose argument this module cannot fill fails the test by name, so
it is added to ``SAMPLES`` rather than silently forgotten. Each page is visited by a
visitor, a member and an owner who is also a site admin (each sees different controls).
A URL that answers GET with 405 is a POST-only action, and one that answers with
something other than HTML is a download (CSV, Atom, attachment, JSON): neither is a page.

axe runs through axe-playwright-python (page.evaluate, which the site's CSP allows:
it is not an inline <script>). "serious" and "critical" violations fail the test.
"""

from __future__ import annotations

import itertools
import json
import smtplib
import time
from collections.abc import Iterator

import pytest
from django.urls import URLResolver, reverse

from groups.web import urls as web_urls
from tests.browser.conftest import PASSWORD, log_in, screenshot

try:
    from axe_playwright_python.sync_playwright import Axe
    from playwright.sync_api import expect
except ImportError:  # the browser fixture then skips (or, in CI, fails) with the reason
    Axe = expect = None

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

FAILING_IMPACTS = {"serious", "critical"}
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1000, "height": 800}
TOLERANCE_PX = 2  # sub-pixel rounding, never a real overflow


def db(platform, code: str) -> dict:
    """Run ``code`` in the platform's Django; it sets ``out`` (a dict), returned here."""
    script = ("import json\nfrom groups.models import *\nout = {}\n" + code
              + "\nprint('OUT=' + json.dumps(out, default=str))")
    stdout = platform.manage("shell", "--no-imports", "-c", script).stdout
    return json.loads(stdout.split("OUT=", 1)[1])


def send(platform, sender: str, group: str, subject: str, n: int) -> None:
    """A post with a small attachment, through the real smtpd."""
    boundary = "a11y-boundary"
    message = (
        f"From: {sender}\r\nTo: {group}@groups.localhost\r\nSubject: {subject}\r\n"
        f"Message-ID: <a11y.{n}@example.org>\r\nDate: Mon, 23 Nov 2026 10:0{n}:00 +0000\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary={boundary}\r\n\r\n"
        f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"The route for {subject.lower()} is on the map. #walks\r\n"
        f"--{boundary}\r\nContent-Type: text/plain; name=route.txt\r\n"
        f"Content-Disposition: attachment; filename=route.txt\r\n\r\nNorth, then east.\r\n"
        f"--{boundary}--\r\n").encode()
    with smtplib.SMTP("127.0.0.1", platform.ports["smtpd"], timeout=30) as client:
        client.sendmail(sender, [f"{group}@groups.localhost"], message)


# The objects whose ids the URLs need, made once the platform runs; ``out`` carries
# their ids and the signed links (made with the platform's own SECRET_KEY).
OBJECTS = """
from django.contrib.auth.tokens import default_token_generator
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from groups import links
from groups.membership import add_members
from groups.web.views.groupadmin import SECTIONS
from groups.web.noticeeditor import KINDS

olivia = User.objects.get(email="olivia@example.org")
olivia.is_superuser = olivia.is_staff = True
olivia.save()
hikers = Group.objects.get(name="hikers")
council = Group.objects.get(name="council")
dana = Membership.objects.get(group=hikers, email="dana@example.org")
add_members(hikers, ["Paula Pending <paula@example.org>"],
            status=Membership.Status.PENDING_APPROVAL)
message = Message.objects.filter(topic__group=hikers).order_by("number").first()
attachment = Attachment.objects.filter(message=message).first()
held = HeldMessage.objects.filter(group=council).first()
reason = ModerationReason.objects.create(group=hikers, title="Off topic",
                                         text="Please keep to walks.")
hashtag, _ = Hashtag.objects.get_or_create(group=hikers, name="walks")
feed = Feed.objects.create(group=hikers, url="https://example.org/feed.xml",
                           title="Club news", poster_email="olivia@example.org")
BanRule.objects.create(group=hikers, pattern="*@spam.example", reason="Spam")
SenderRule.objects.create(group=hikers, pattern="friend@partner.example",
                          action=SenderRule.Action.ACCEPT)
user = User.objects.get(email="dana@example.org")
path = lambda url: "/" + url.split("/", 3)[3]

# The group tools and the pages merged after the first pass (issue #18, #19...).
import io
from datetime import timedelta
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone
from PIL import Image
from groups import apikeys, calendar, groupcreation, photos, wiki

now = timezone.now()
event = Event.objects.create(group=hikers, title="Ridge walk", location="The car park",
                             description="Boots and water.", created_by=olivia,
                             start=now + timedelta(days=3), end=now + timedelta(days=3, hours=4))
later = Message.objects.filter(topic__group=hikers).order_by("-number").first()
poll = Poll.objects.create(group=hikers, topic=later.topic, question="Where next?",
                           closes_at=now + timedelta(days=2), created_by=olivia)
for number, text in enumerate(["The ridge", "The lake"], start=1):
    PollChoice.objects.create(poll=poll, number=number, text=text)
folder = Folder.objects.create(group=hikers, name="Maps")
stored = StoredFile(group=hikers, folder=folder, name=attachment.filename, size=17,
                    content_type="text/plain", description="The route", uploaded_by=olivia)
stored.data.save(attachment.filename, ContentFile(b"North, then east."), save=True)
album = Album.objects.create(group=hikers, title="Summer", created_by=olivia)
buffer = io.BytesIO()
Image.new("RGB", (64, 48), (40, 120, 60)).save(buffer, "JPEG")
photo = photos.add_photo(album, buffer.getvalue(), caption="On the ridge",
                         strip_location=True, user=olivia)
wiki.save(hikers, wiki.HOME, "Home", "Welcome. See [[Routes]].", author=olivia,
          comment="First", base=0)
wiki.save(hikers, wiki.HOME, "Home", "Welcome back. See [[Routes]].", author=olivia,
          comment="Second", base=1)
group_hook = Webhook.objects.create(group=hikers, url="https://example.org/hook",
                                    events=["message.posted"], secret="s" * 32,
                                    description="Club site")
site_hook = Webhook.objects.create(url="https://example.org/site-hook",
                                   events=["message.held"], secret="t" * 32)
apikeys.create(olivia, "Scripts", group=hikers)
groupcreation.create_subgroup(hikers, child="drivers", title="Drivers", description="Lifts.",
                              owner_email=olivia.email)
MessageRevision.objects.create(message=message, subject="Sunday walk (first draft)",
                               body_text="The first version.", written_at=now,
                               replaced_by=olivia.email)
out = {
    "group_name": ["hikers"],
    "topic_id": [message.topic_id],
    "number": [message.number],
    "attachment_id": [attachment.id],
    "filename": [attachment.filename],
    "membership_id": [dana.id],
    "section": [s.slug for s in SECTIONS],
    "kind": list(KINDS),
    "reason_id": [reason.id],
    "hashtag_id": [hashtag.id],
    "feed_id": [feed.id],
    "held_id": [held.id],
    "index": [0],
    "event_id": [event.id],
    "poll_id": [poll.id],
    "folder_id": [folder.id],
    "file_id": [stored.id],
    "album_id": [album.id],
    "photo_id": [photo.id],
    "size": ["thumb"],
    "slug": [wiki.HOME, "routes"],
    "hook_id": [group_hook.id, site_hook.id],
    "signed": {
        "unsubscribe": path(links.unsubscribe_url(dana.id)),
        "mute_topic": path(links.mute_topic_url(dana.id, message.topic_id)),
        "moderate_link": path(links.moderation_url(held.id, "approve")),
        "confirm_subscription": path(links.confirm_subscription_url(dana.id)),
        "restore_membership": path(links.restore_membership_url(dana)),
        "confirm_email": path(links.confirm_email_url(user.id)),
        "password_reset_confirm": "/accounts/password-reset/%s/%s/" % (
            urlsafe_base64_encode(force_bytes(user.pk)),
            default_token_generator.make_token(user)),
        "calendar_private_feed": reverse("calendar_private_feed", kwargs={
            "group_name": "hikers", "token": calendar.feed_token(olivia, hikers)}),
    },
}
"""

# Pages in a state the URL list alone does not reach: the 404 page, a signed link gone
# bad, searches with results, the moderated group (a held post in its queue) and its join
# page as a non-member sees it.
EXTRA_PATHS = ["/no-such-page/", "/unsubscribe/not-a-valid-link/",
               "/search/?q=route", "/g/hikers/topics/?q=route",
               "/g/council/", "/g/council/join/", "/g/council/admin/pending-messages/",
               "/g/hikers+drivers/", "/g/hikers+drivers/admin/settings/"]


def named_patterns(patterns: list, namespace: str = "", outer: frozenset = frozenset()
                   ) -> Iterator[tuple[str, list[str]]]:
    """(name to reverse, its argument names) of every named URL, includes walked too."""
    for pattern in patterns:
        params = outer | set(pattern.pattern.converters)
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from named_patterns(pattern.url_patterns, inner, frozenset(params))
        elif pattern.name:
            yield f"{namespace}{pattern.name}", sorted(params)


# Pages saved as pictures at 360 px (test-artifacts/), for a person to look at.
PHONE_SHOTS = {"/g/hikers/topic/1/": "topic", "/g/hikers/admin/members/": "members",
               "/g/hikers/admin/settings/formatting/": "settings", "/site/dns/": "dns",
               "/g/council/admin/pending-messages/": "queue"}


def pages(samples: dict) -> list[tuple[str, str]]:
    """(URL name, path) for every pattern in groups/web/urls.py, arguments filled in."""
    found, unknown = [], []
    for name, params in named_patterns(web_urls.urlpatterns):
        if name in samples["signed"]:
            found.append((name, samples["signed"][name]))
            continue
        if "token" in params:  # a signed link this module has no real token for
            found.append((name, reverse(name, urlconf=web_urls,
                                        kwargs={p: "not-a-valid-link" for p in params})))
            continue
        missing = [p for p in params if p not in samples]
        if missing:
            unknown.append(f"{name} needs {missing}")
            continue
        for values in itertools.product(*(samples[p] for p in params)):
            found.append((name, reverse(name, urlconf=web_urls,
                                        kwargs=dict(zip(params, values, strict=True)))))
    assert not unknown, ("URLs this test cannot fill in; create the object in OBJECTS and "
                         f"add its id to the samples: {unknown}")
    return found + [("extra", p) for p in EXTRA_PATHS]


@pytest.fixture(scope="module")
def samples(platform) -> dict:
    send(platform, "dana@example.org", "hikers", "Sunday walk", 1)
    send(platform, "dana@example.org", "hikers", "Monday walk", 2)
    send(platform, "mel@example.org", "council", "Budget", 3)  # moderated: held
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        counts = db(platform, "out = {'m': Message.objects.filter(topic__group__name='hikers')"
                              ".count(), 'h': HeldMessage.objects.count()}")
        if counts["m"] >= 2 and counts["h"] >= 1:
            break
        time.sleep(0.5)
    else:
        raise AssertionError(f"posts not archived/held in time: {counts}")
    return db(platform, OBJECTS)


def overflow(page) -> int:
    """How far the page is wider than the window (0 when nothing scrolls sideways)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def widest(page) -> list[str]:
    """The elements that stick out past the window's right edge, to name in a failure."""
    return page.evaluate("""() => {
      const out = [];
      for (const el of document.querySelectorAll('body *')) {
        const r = el.getBoundingClientRect();
        if (r.right > window.innerWidth + 2 && out.length < 5) {
          out.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
                   + (el.className && typeof el.className === 'string'
                      ? '.' + el.className.split(' ').join('.') : '')
                   + ' right=' + Math.round(r.right));
        }
      }
      return out;
    }""")


def serious(axe, page, where: str) -> list[str]:
    """axe's serious and critical violations on the page as it is now, one line each."""
    found = []
    for v in axe.run(page).response["violations"]:
        targets = [" ".join(map(str, n["target"])) for n in v["nodes"]][:4]
        print(f"axe: {where}: {v['impact']} {v['id']} at {targets}")
        if v["impact"] in FAILING_IMPACTS:
            found.append(f"{where}: {v['impact']} {v['id']} ({v['help']}) at {targets}")
    return found


@pytest.mark.parametrize("who", ["visitor", "dana@example.org", "olivia@example.org"])
def test_every_page_passes_axe_and_fits_a_phone(page, platform, samples, who):
    """axe finds no serious or critical violation on any page this person can open,
    and at 360 px wide no page scrolls sideways (wide tables scroll in their wrapper)."""
    if who != "visitor":
        log_in(page, platform, who)
    axe = Axe()
    problems: list[str] = []
    seen: set[str] = set()
    checked = 0
    for name, path in pages(samples):
        if name in ("logout",):  # a GET would not log out, but keep the session anyway
            continue
        url = platform.url("web", path)
        head = page.request.get(url, max_redirects=0)  # the context's cookies: same person
        if head.status == 405 or ("text/html" not in head.headers.get("content-type", "")
                                  and not 300 <= head.status < 400):
            continue  # a POST-only action or a download: not a page
        page.set_viewport_size(DESKTOP)
        page.goto(url)
        landed = page.url.split("?")[0] if "?" not in path else page.url
        if head.status in (403, 404):
            landed = f"the {head.status} page"  # one of each is enough
        if landed in seen:
            continue  # a page already checked (a redirect to the login page, a 403...)
        seen.add(landed)
        checked += 1
        problems += serious(axe, page, f"{path} [{name}]")
        page.set_viewport_size(PHONE)
        problems += serious(axe, page, f"{path} [{name}] at 360px")
        if path in PHONE_SHOTS and who != "visitor":
            screenshot(page, f"a11y-360-{PHONE_SHOTS[path]}")
        too_wide = overflow(page)
        if too_wide > TOLERANCE_PX:
            problems.append(f"{path} [{name}]: {too_wide}px wider than a 360px phone; "
                            f"sticking out: {widest(page)}")
    print(f"{who}: {checked} pages checked: {sorted(seen)}")
    assert checked > 15, f"only {checked} pages reached as {who}"
    assert not problems, "\n".join(problems)


# Forms sent empty (or wrong): the page with its errors is checked too, since an error
# must be tied to its field for a screen reader to say it.
WRONG_FORMS = [
    (None, "/accounts/login/", "Log in"),
    (None, "/accounts/signup/", "Create my account"),
    (None, "/accounts/password-reset/", "Send me a reset link"),
    ("olivia@example.org", "/groups/new/", "Create the group"),
    ("olivia@example.org", "/g/hikers/new/", "Send"),
    ("olivia@example.org", "/g/hikers/admin/feeds/", "Add feed"),
    ("olivia@example.org", "/g/hikers/admin/hashtags/", "Save"),
    ("olivia@example.org", "/g/hikers/calendar/new/", "Add the event"),
    ("olivia@example.org", "/g/hikers/polls/new/", "Start the poll"),
    ("olivia@example.org", "/g/hikers/photos/", "Add the album"),
    ("olivia@example.org", "/g/hikers/admin/webhooks/", "Add the webhook"),
    ("olivia@example.org", "/g/hikers/admin/subgroups/", "Make the subgroup"),
]


def test_form_errors_pass_axe_and_name_their_field(page, platform, samples):
    axe = Axe()
    problems = []
    logged_in = None
    for who, path, button in WRONG_FORMS:
        if who and who != logged_in:
            log_in(page, platform, who)
            logged_in = who
        page.goto(platform.url("web", path))
        page.get_by_role("button", name=button, exact=False).first.click()
        page.wait_for_load_state()
        expect(page.locator(".error").first).to_be_visible()
        problems += serious(axe, page, f"{path} with errors")
        unexplained = page.evaluate("""() => Array.from(
          document.querySelectorAll('main [aria-invalid=true]')).filter(el => {
            const holder = el.closest('fieldset[aria-describedby]') || el;
            const ids = (holder.getAttribute('aria-describedby') || '').split(' ');
            return !ids.some(id => id && document.getElementById(id)
                                   && document.getElementById(id).classList.contains('error'));
          }).map(el => el.name)""")
        if unexplained:
            problems.append(f"{path}: fields marked invalid without their error: {unexplained}")
    assert not problems, "\n".join(problems)


# --- keyboard alone ---------------------------------------------------------------

def focus_shows(page) -> bool:
    """The focused element draws a visible focus indicator (outline or box shadow)."""
    return page.evaluate("""() => {
      const s = getComputedStyle(document.activeElement);
      return (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0)
             || s.boxShadow !== 'none';
    }""")


def tab_to(page, name: str, *, limit: int = 60) -> None:
    """Press Tab until the focused element's accessible name starts with ``name``,
    checking at every stop that the focus can be seen."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate("""() => {
          const el = document.activeElement;
          if (!el || el === document.body) return '';
          const label = el.labels && el.labels.length ? el.labels[0].innerText : '';
          return (el.getAttribute('aria-label') || label || el.innerText || el.value || '')
                 .trim();
        }""")
        if focused:
            assert focus_shows(page), f"no visible focus on {focused!r} at {page.url}"
        if focused.startswith(name):
            return
    raise AssertionError(f"{name!r} not reached by Tab in {limit} presses on {page.url}")


def test_skip_link_is_first_and_moves_focus_to_the_content(page, platform):
    page.goto(platform.url("web", "/g/hikers/"))
    page.keyboard.press("Tab")
    skip = page.locator(":focus")
    expect(skip).to_have_text("Skip to main content")
    expect(skip).to_be_in_viewport()
    assert focus_shows(page)
    page.keyboard.press("Enter")
    assert page.url.endswith("#main")
    page.keyboard.press("Tab")  # the next stop is inside the main content, not the header
    assert page.evaluate("document.querySelector('main').contains(document.activeElement)")


def test_keyboard_journeys_log_in_join_post_and_change_delivery(page, platform, samples):
    db(platform, f"User.objects.create_user(username='kim@example.org', email='kim@example.org',"
                 f" password={PASSWORD!r}, display_name='Kim Keys', email_confirmed=True)")
    keys = page.keyboard

    # Log in
    page.goto(platform.url("web", "/"))
    tab_to(page, "Log in")
    keys.press("Enter")
    page.wait_for_url("**/accounts/login/**")
    tab_to(page, "Email address")
    keys.type("kim@example.org")
    tab_to(page, "Password")
    keys.type(PASSWORD)
    keys.press("Enter")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
    expect(page.get_by_role("link", name="My groups")).to_be_visible()

    # Join a group
    page.goto(platform.url("web", "/g/hikers/"))
    tab_to(page, "Join this group")
    keys.press("Enter")
    page.wait_for_load_state()
    joined = db(platform, "out = {'s': Membership.objects.get(group__name='hikers', "
                          "email='kim@example.org').status}")
    assert joined["s"] == "active"

    # Post a new topic
    page.goto(platform.url("web", "/g/hikers/"))
    tab_to(page, "New topic")
    keys.press("Enter")
    page.wait_for_url("**/new/")
    tab_to(page, "Subject")
    keys.type("Keyboard walk")
    tab_to(page, "Message")
    keys.type("Posted without a mouse.")
    tab_to(page, "Send")
    keys.press("Enter")
    page.wait_for_load_state()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        posted = db(platform, "out = {'n': Message.objects.filter(topic__group__name='hikers', "
                              "subject__contains='Keyboard walk').count()}")
        if posted["n"]:
            break
        time.sleep(0.5)
    assert posted["n"] == 1

    # Change delivery to the daily summary
    page.goto(platform.url("web", "/g/hikers/subscription/"))
    tab_to(page, "Email delivery")
    keys.type("Daily")  # a closed select picks the option its typed letters begin
    tab_to(page, "Save")
    keys.press("Enter")
    page.wait_for_load_state()
    changed = db(platform, "out = {'d': Membership.objects.get(group__name='hikers', "
                           "email='kim@example.org').delivery}")
    assert changed["d"] == "summary"


def test_keyboard_vote_in_a_poll_then_the_results_pass_axe(page, platform, samples):
    """A member votes with Tab, the arrow keys and Enter alone; the results table it then
    shows (a state the page walk does not reach: nobody has voted there) passes axe too."""
    log_in(page, platform, "dana@example.org")
    keys = page.keyboard
    page.goto(platform.url("web", "/g/hikers/polls/"))
    tab_to(page, "Where next?")
    keys.press("Enter")
    page.wait_for_url(f"**/polls/{samples['poll_id'][0]}/")
    tab_to(page, "The ridge")  # the first choice of the radio group takes the focus
    keys.press("ArrowDown")  # ...and the arrow keys move the choice
    expect(page.get_by_label("The lake")).to_be_checked()
    tab_to(page, "Vote")
    keys.press("Enter")
    page.wait_for_load_state()
    expect(page.get_by_text("Your vote is counted.")).to_be_visible()
    voted = db(platform, "out = {'v': list(PollVote.objects.filter(membership__email="
                         "'dana@example.org').values_list('choice__number', flat=True))}")
    assert voted["v"] == [2]
    expect(page.get_by_role("heading", name="Results")).to_be_visible()
    problems = serious(Axe(), page, "the poll's results")
    page.set_viewport_size(PHONE)
    problems += serious(Axe(), page, "the poll's results at 360px")
    assert overflow(page) <= TOLERANCE_PX, widest(page)
    assert not problems, "\n".join(problems)
