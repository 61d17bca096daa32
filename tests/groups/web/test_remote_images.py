"""Archived HTML mail never loads remote images (tracking pixels); #15 item 13."""

from __future__ import annotations

import pytest
from django.urls import reverse

from messageserver import mailparse
from tests.groups.web.conftest import make_post

pytestmark = pytest.mark.django_db

PIXEL = ('<p>Hi<img src="https://track.example/p.gif?u=42&amp;m=7" width="1" height="1">'
         '<img src="//cdn.example/logo.png" alt="Logo"><img src="cid:part1@x"></p>')


def test_the_sanitiser_replaces_remote_images_with_a_link():
    html = mailparse.sanitize_html(PIXEL)
    # only the inline image stays: the archive points cid: at the stored attachment
    assert html.count("<img") == 1 and '<img src="cid:part1@x">' in html
    assert html.count("[remote image removed") == 2 and "[remote image removed: Logo]" in html
    assert 'href="https://track.example/p.gif?u=42&amp;m=7"' in html


def test_archive_page_shows_no_remote_image_even_for_old_messages(group, clients):
    """Messages archived before the sanitiser removed them are filtered on the page too."""
    msg = make_post(group, "Newsletter", text="", html=PIXEL)
    page = clients["anon"].get(reverse("message", args=["hikers", msg.number])).content.decode()
    assert "track.example/p.gif" in page  # as a link the reader may follow
    assert '<img src="https://track.example' not in page and '<img src="//cdn' not in page
    assert "[remote image removed" in page
