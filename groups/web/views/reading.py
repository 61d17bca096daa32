"""A person's own reading lists across groups: topics they took part in, topics they follow.

Only groups where they are an active member and may read the archive count
(groups.visibility.followable_groups): leave a group and its topics leave these
lists at once. Each page costs a fixed number of queries (topics with their
group and last poster joined, hashtags and unread counts in bulk).
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Exists, OuterRef, Prefetch, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from groups import readstate
from groups.models import Hashtag, Membership, Message, Topic, TopicPreference
from groups.visibility import followable_groups
from groups.web import access
from groups.web.pages import paginate_keys_first


def _listed(topics):
    return (topics.select_related("group", "last_message")
            .prefetch_related(Prefetch("hashtags", queryset=Hashtag.objects.order_by("name")))
            .defer("last_message__body_text", "last_message__body_html")
            .order_by("-last_post_at", "-pk"))


def _page(request: HttpRequest, topics, title: str, empty: str) -> HttpResponse:
    page = paginate_keys_first(request, _listed(topics))
    readstate.annotate_unread(page.object_list, request.user)
    return render(request, "groups/topic_list_mine.html", {
        "page": page, "title": title, "empty": empty})


@login_required
def my_topics(request: HttpRequest) -> HttpResponse:
    """Topics I started or replied to, by account or by the address I post from."""
    user = request.user
    mine = Message.objects.filter(topic=OuterRef("pk"), deleted=False).filter(
        Q(membership__user=user) | Q(sender_email__iexact=user.email))
    topics = Topic.objects.filter(group__in=followable_groups(user)).filter(Exists(mine))
    return _page(request, topics, _("My topics"),
                 _("Topics you start or reply to in your groups appear here."))


@login_required
def followed_topics(request: HttpRequest) -> HttpResponse:
    """Topics I chose to follow (Follow on a topic's page)."""
    user = request.user
    follows = TopicPreference.objects.filter(
        topic=OuterRef("pk"), mode=TopicPreference.Mode.FOLLOW,
        membership__status=Membership.Status.ACTIVE).filter(
        Q(membership__user=user) | Q(membership__email=user.email.lower()))
    topics = Topic.objects.filter(group__in=followable_groups(user)).filter(Exists(follows))
    return _page(request, topics, _("Followed topics"),
                 _("Follow a topic from its page to find it here."))


@login_required
@require_POST
def topic_layout(request: HttpRequest, group_name: str, topic_id: int) -> HttpResponse:
    """Remember flat or threaded for every topic, then show this one that way."""
    v = access.reader(request, group_name)
    the_topic = get_object_or_404(Topic, group=v.group, pk=topic_id)
    layout = request.POST.get("layout", "")
    if layout in readstate.LAYOUTS:
        readstate.save_topic_layout(request.user, layout)
    return redirect("topic", v.group.name, the_topic.pk)
