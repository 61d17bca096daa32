"""/me: the key's own account — its profile and its subscriptions."""


from django.http import HttpRequest
from ninja import Router

from groups.api import auth
from groups.api.groups import ERRORS
from groups.api.schemas import Profile, ProfileUpdate, Subscription
from groups.models import Membership

router = Router(tags=["account"])


def _profile(user) -> dict:  # noqa: ANN001
    return {"username": user.username, "email": user.email,
            "display_name": user.display_name, "time_zone": user.time_zone}


@router.get("/me", response={200: Profile, **ERRORS}, summary="Your profile")
def me(request: HttpRequest) -> dict:
    return _profile(request.user)


@router.patch("/me", response={200: Profile, **ERRORS}, summary="Change your profile")
def update_me(request: HttpRequest, body: ProfileUpdate) -> dict:
    auth.require_write(request)
    user = request.user
    data = body.dict(exclude_unset=True, exclude_none=True)
    for field, value in data.items():
        setattr(user, field, value)
    user.save(update_fields=list(data) or None)
    return _profile(user)


@router.get("/me/subscriptions", response={200: list[Subscription], **ERRORS},
            summary="Your memberships")
def subscriptions(request: HttpRequest) -> list[dict]:
    rows = Membership.objects.filter(user=request.user).select_related("group").exclude(
        status__in=[Membership.Status.UNSUBSCRIBED, Membership.Status.REMOVED])
    only = auth.allowed_group_ids(request)
    if only is not None:
        rows = rows.filter(group_id=only)
    return [{"group": m.group.name, "group_title": m.group.display_title, "email": m.email,
             "role": m.role, "status": m.status, "delivery": m.delivery}
            for m in rows.order_by("group__name")]
