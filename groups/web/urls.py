"""The website's URLs. groups/links.py reverses these names for the links we email,
so a name or its arguments may only change together with links.py."""

from django.urls import path

from groups.web.views import accounts, archive, members, signed

urlpatterns = [
    path("", archive.directory, name="directory"),
    # Accounts
    path("accounts/login/", accounts.login, name="login"),
    path("accounts/logout/", accounts.logout, name="logout"),
    path("my/groups/", members.my_groups, name="my_groups"),
    # Signed links from mail (no login needed: the token is the proof)
    path("unsubscribe/<str:token>/", signed.unsubscribe, name="unsubscribe"),
    path("mute/<str:token>/", signed.mute_topic, name="mute_topic"),
    path("moderate/<str:token>/<str:action>/", signed.moderate_link, name="moderate_link"),
    path("confirm/subscription/<str:token>/", signed.confirm_subscription,
         name="confirm_subscription"),
    path("restore/<str:token>/", signed.restore_membership, name="restore_membership"),
    path("confirm/email/<str:token>/", signed.confirm_email, name="confirm_email"),
    # A group's archive
    path("g/<slug:group_name>/", archive.group_home, name="group_home"),
    path("g/<slug:group_name>/topics/", archive.topics, name="topics"),
    path("g/<slug:group_name>/topic/<int:topic_id>/", archive.topic, name="topic"),
    path("g/<slug:group_name>/message/<int:number>/", archive.message, name="message"),
    path("g/<slug:group_name>/message/<int:number>/reply/", members.reply, name="reply"),
    path("g/<slug:group_name>/attachment/<int:attachment_id>/<str:filename>",
         archive.attachment, name="attachment"),
]

# Pages still being built: named now so every template's links resolve.
from django.http import HttpResponse  # noqa: E402


def _soon(request, *args, **kwargs):  # pragma: no cover - replaced view by view
    return HttpResponse("Not built yet.", status=501)


urlpatterns += [
    path("search/", _soon, name="search"),
    path("accounts/profile/", _soon, name="profile"),
    path("accounts/signup/", _soon, name="signup"),
    path("accounts/password-reset/", _soon, name="password_reset"),
    path("site/errors/", _soon, name="site_errors"),
    path("g/<slug:group_name>/new/", _soon, name="new_topic"),
    path("g/<slug:group_name>/subscription/", _soon, name="subscription"),
    path("g/<slug:group_name>/join/", _soon, name="join"),
    path("g/<slug:group_name>/leave/", _soon, name="leave"),
    path("g/<slug:group_name>/feed.atom", _soon, name="feed"),
    path("g/<slug:group_name>/admin/", _soon, name="mod_dashboard"),
    path("g/<slug:group_name>/topic/<int:topic_id>/preference/", _soon,
         name="topic_preference"),
    path("g/<slug:group_name>/topic/<int:topic_id>/moderate/", _soon, name="mod_topic"),
]
