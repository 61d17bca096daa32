"""Logging in with an OpenID Connect identity, against a real OpenID provider started by
the test (oidc-provider-mock from PyPI, a real authorization server on loopback): the
browser's hops are made by the test (our redirect to the provider, the provider's consent
form, its redirect back), the code exchange and the user info are real HTTP between our
server and the provider."""

from __future__ import annotations

import json
import warnings

import httpx
import pytest
from allauth.socialaccount.models import SocialAccount
from django.urls import reverse

from groups.models import User
from groups.oidcproviders import configured
from tests.groups.web.conftest import client_for

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import oidc_provider_mock

pytestmark = pytest.mark.django_db
LOGIN = "/auth/oidc/mock/login/"


@pytest.fixture
def provider(settings):
    """The provider, and this site configured to offer it as "Mock ID"."""
    with oidc_provider_mock.run_server_in_thread() as server:
        url = f"http://localhost:{server.server_port}"
        settings.SOCIALACCOUNT_PROVIDERS = configured({"OIDC_PROVIDERS": json.dumps([{
            "id": "mock", "name": "Mock ID", "server_url": url, "client_id": "groups-site",
            "secret": "client-secret"}])})
        yield url


def claims(provider: str, sub: str, **values) -> None:
    """What the provider says of ``sub`` (its /users/SUB endpoint)."""
    httpx.put(f"{provider}/users/{sub}", json=values).raise_for_status()


def log_in_with(client, sub: str, process: str = "login"):  # noqa: ANN201
    """Press "Log in with Mock ID", consent as ``sub`` at the provider, come back."""
    start = client.post(LOGIN, {"process": process})
    assert start.status_code == 302, start.content[:500]
    consent = httpx.post(start["Location"], data={"sub": sub}, follow_redirects=False)
    assert consent.status_code == 302, consent.text[:500]
    back = consent.headers["location"]
    assert back.startswith("http://testserver/auth/oidc/mock/login/callback/")
    return client.get(back.removeprefix("http://testserver"))


def test_login_page_offers_the_provider(provider, client):
    page = client.get(reverse("login")).content.decode()
    assert "Log in with Mock ID" in page and f'action="{LOGIN}' in page


def test_sign_up_then_log_in_again(provider, client):
    claims(provider, "u-1", email="Newcomer@Example.net", email_verified=True,
           name="New Comer")
    done = log_in_with(client, "u-1")
    assert done.status_code == 302, done.content[:800]
    user = User.objects.get(email="newcomer@example.net")
    assert user.email_confirmed and user.display_name == "New Comer"
    assert not user.has_usable_password()
    assert SocialAccount.objects.get(user=user).uid == "u-1"
    assert client.get(reverse("profile")).status_code == 200  # logged in
    fresh = client_for(None)
    assert log_in_with(fresh, "u-1").status_code == 302
    assert fresh.get(reverse("profile")).status_code == 200
    assert User.objects.filter(email="newcomer@example.net").count() == 1


def test_a_verified_email_links_the_existing_account(provider, people, client):
    claims(provider, "bob-at-provider", email="bob@example.org", email_verified=True)
    assert log_in_with(client, "bob-at-provider").status_code == 302
    assert SocialAccount.objects.get(uid="bob-at-provider").user == people["bob"]
    assert client.get(reverse("profile")).context["user"] == people["bob"]


def test_an_unverified_email_is_refused(provider, people, client):
    claims(provider, "mallory", email="bob@example.org", email_verified=False)
    refused = log_in_with(client, "mallory")
    assert refused.status_code == 403
    assert "verified your email address" in refused.content.decode()
    assert not SocialAccount.objects.exists()
    assert client.get(reverse("profile")).status_code == 302  # not logged in
    claims(provider, "nobody", email="nobody@example.net")  # no email_verified at all
    assert log_in_with(client, "nobody").status_code == 403
    assert not User.objects.filter(email="nobody@example.net").exists()


def test_an_unconfirmed_account_is_not_taken_over(provider, people, client):
    User.objects.create_user("eve", "eve@example.net", "pw-pw-pw-pw", email_confirmed=False)
    claims(provider, "eve-id", email="eve@example.net", email_verified=True)
    refused = log_in_with(client, "eve-id")
    assert refused.status_code == 403 and not SocialAccount.objects.exists()


def test_connect_and_unlink_from_the_account_page(provider, people, clients):
    claims(provider, "charlie-elsewhere", email="c.other@example.net", email_verified=True)
    page = clients["charlie"].get(reverse("connected_logins")).content.decode()
    assert "Connect Mock ID" in page
    assert log_in_with(clients["charlie"], "charlie-elsewhere", "connect").status_code == 302
    account = SocialAccount.objects.get(uid="charlie-elsewhere")
    assert account.user == people["charlie"]  # a different address: connected, not a new user
    page = clients["charlie"].get(reverse("connected_logins")).content.decode()
    assert "Mock ID" in page and "Unlink" in page
    clients["charlie"].post(reverse("connected_logins"), {"unlink": account.pk})
    assert not SocialAccount.objects.exists()
    other = clients["bob"].post(reverse("connected_logins"), {"unlink": 12345})
    assert other.status_code == 404
