"""A Markdown post with a code block, previewed, sent, read in the archive, then edited.

The member writes in the post form, previews it (the server renders it; no
script needed), sends it, and finds it rendered in the archive with its code
highlighted by the static stylesheet (the CSP allows no inline styles);
members' copies are multipart/alternative. Then she edits it and the archive
says so. Everything is found by its visible label.
"""

from __future__ import annotations

import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture then skips (or, in CI, fails) with the reason
    expect = None

from tests.browser.conftest import log_in, mail_to, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

TEXT = """Plan for **Saturday**:

- boots
- water

```python
def pace(km, hours):
    return km / hours
```
"""


def test_member_writes_previews_sends_and_edits_a_markdown_post(page, platform):
    log_in(page, platform, "olivia@example.org")
    page.goto(platform.url("web", "/g/hikers/"))
    page.get_by_role("link", name="New topic").click()
    page.get_by_label("Subject").fill("Pace on the ridge")
    expect(page.get_by_label("Markdown", exact=True)).to_be_checked()
    page.get_by_label("Message").fill(TEXT)
    page.get_by_role("button", name="Preview").click()

    preview = page.get_by_role("region", name="Preview")
    expect(preview.locator("strong", has_text="Saturday")).to_be_visible()
    keyword = preview.locator("pre.highlight span.k", has_text="def")
    expect(keyword).to_be_visible()
    expect(page.get_by_label("Message")).to_have_value(TEXT)
    screenshot(page, "richposts-preview")

    page.get_by_role("button", name="Send").click()
    expect(page.get_by_text("Your message was posted.")).to_be_visible()
    body = page.locator("article.message .body.html")
    expect(body.locator("li", has_text="water")).to_be_visible()
    keyword = body.locator("pre.highlight span.k", has_text="def")
    expect(keyword).to_be_visible()
    # coloured by highlight.css: the default style's keywords are green and bold
    assert keyword.evaluate("e => getComputedStyle(e).fontWeight") == "700"
    screenshot(page, "richposts-archive")

    copy = mail_to(platform, "erik@example.org", "Pace on the ridge", post=True)
    assert copy.get_content_type() == "multipart/alternative"
    assert "```python" in copy.get_body(("plain",)).get_content()
    assert '<span class="k">def</span>' in copy.get_body(("html",)).get_content()

    page.get_by_role("link", name="Edit", exact=True).click()
    page.get_by_label("Message").fill(TEXT.replace("water", "more water"))
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("Your message was edited.")).to_be_visible()
    expect(body.locator("li", has_text="more water")).to_be_visible()
    expect(page.locator("p.edited")).to_contain_text("Edited")
    page.get_by_role("link", name="Previous versions").click()
    expect(page.locator("article.revision li", has_text="water")).to_be_visible()
    screenshot(page, "richposts-history")
