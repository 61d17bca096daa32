"""Karl's open /health says how Karl is, never where mail goes (#22 item 9)."""

from __future__ import annotations

import httpx

from karl.server import _without_password
from tests.karl.conftest import TOKEN


def test_open_health_shows_no_relay_and_the_token_holder_sees_them(karl_factory, sink,
                                                                   tmp_path):
    hidden = tmp_path / "private-relay-spool"
    karl = karl_factory(f"{sink.url},maildir:{hidden}")
    response = httpx.get(karl.url + "/health", timeout=10)
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] and body["relays_total"] == 2 and body["relays_healthy"] == 2
    assert "relays" not in body
    assert str(hidden) not in response.text and "maildir" not in response.text
    assert str(sink.port) not in response.text
    detailed = httpx.get(karl.url + "/health", timeout=10,
                         headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert {r["relay"] for r in detailed["relays"]} == {sink.url, f"maildir:{hidden}"}


def test_a_relay_password_is_never_shown():
    assert _without_password("smtp://mailer:s3cret@relay.example:587") == (
        "smtp://mailer:***@relay.example:587")
    assert _without_password("smtp://relay.example:25") == "smtp://relay.example:25"
