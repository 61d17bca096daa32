"""/groups/{name}/members: the member list with filters and cursor pages, adding,
changing, removing and banning — by the same rules as the owners' member pages."""

from typing import Literal

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Query, Router, Schema, Status
from ninja.errors import HttpError, ValidationError
from pydantic import Field

from groups import memberpowers
from groups.api import auth
from groups.api.groups import ERRORS
from groups.api.schemas import NO_NUL, MemberAdd, MemberOut, MemberUpdate, Output, Reason
from groups.membership import add_members
from groups.models import Membership
from groups.web.views.memberadmin import send_invitations

router = Router(tags=["members"])
MEMBER_FIELDS = tuple(MemberOut.model_fields)
S = Membership.Status


class MemberFilters(Schema):
    status: Literal["", "active", "pending", "banned", "former", "all"] = ""
    role: Literal["", "member", "moderator", "owner"] = ""
    delivery: Literal[("", *Membership.Delivery.values)] = ""  # type: ignore[valid-type]
    posting_status: Literal[("", *Membership.PostingStatus.values)] = ""  # type: ignore[valid-type]
    bouncing: bool = False
    q: str = Field("", max_length=200, pattern=NO_NUL)


class MemberPage(Output):
    results: list[MemberOut]
    next: str | None = Field(description="The next page (the same filters and a cursor); "
                                         "null on the last page.")


@router.get("/{group_name}/members", response={200: MemberPage, **ERRORS},
            summary="List members (moderators)")
def list_members(request: HttpRequest, group_name: str, filters: Query[MemberFilters],
                 cursor: str = Query("", max_length=320, pattern=NO_NUL, description=(
                     "Where the page starts: the `next` link carries it (the last address "
                     "of the page before).")),
                 page_size: int = Query(100, ge=1, le=1000)) -> dict:
    """Members and pending people by default; `status=all` for every row. Pages come in
    address order and follow `next` (a keyset cursor: page 1,000 costs what page 1 does)."""
    v = auth.moderator(request, group_name)
    rows = memberpowers.filtered(
        v.group, status=filters.status, role=filters.role, delivery=filters.delivery,
        posting=filters.posting_status, bouncing=filters.bouncing, q=filters.q[:200])
    if cursor:
        rows = rows.filter(email__gt=cursor)
    page = list(rows.order_by("email").values(*MEMBER_FIELDS)[:page_size + 1])
    more = len(page) > page_size
    page = page[:page_size]
    following = None
    if more:
        params = request.GET.copy()
        params["cursor"] = page[-1]["email"]
        following = request.build_absolute_uri(f"{request.path}?{params.urlencode()}")
    return {"results": page, "next": following}


def _member(request: HttpRequest, group_name: str, member_id: int):  # noqa: ANN202
    v = auth.moderator(request, group_name)
    return v, get_object_or_404(Membership, group=v.group, pk=member_id)


@router.get("/{group_name}/members/{member_id}", response={200: MemberOut, **ERRORS},
            summary="Get one member (moderators)")
def get_member(request: HttpRequest, group_name: str, member_id: int) -> dict:
    return (_member(request, group_name, member_id)[1])


@router.post("/{group_name}/members", response={201: MemberOut, **ERRORS},
             summary="Add or invite a member")
def add_member(request: HttpRequest, group_name: str, body: MemberAdd) -> Status:
    """Owners add directly or invite; moderators can only invite. An address already in the
    group, banned, or that left before is refused with 409 (former members join again
    themselves)."""
    auth.require_write(request)
    v = auth.moderator(request, group_name)
    invite = body.invite or not v.is_owner
    entry = f"{body.display_name} <{body.email}>" if body.display_name else body.email
    report = add_members(v.group, [entry], delivery=body.delivery,
                         status=S.INVITED if invite else S.ACTIVE, actor=request.user.email)
    if report.invalid:
        raise ValidationError([{"loc": ["body", "email"], "msg": report.invalid[0][1]}])
    if report.banned:
        raise HttpError(409, f"{body.email} is banned from this group.")
    if not report.added:
        raise HttpError(409, f"{body.email} is already a member, invited, or left before.")
    if invite:
        send_invitations(v, report.added)
    return Status(201, Membership.objects.get(group=v.group, email=report.added[0]))


@router.patch("/{group_name}/members/{member_id}", response={200: MemberOut, **ERRORS},
              summary="Change a member's role, delivery, posting status or name")
def update_member(request: HttpRequest, group_name: str, member_id: int,
                  body: MemberUpdate) -> dict:
    auth.require_write(request)
    v, m = _member(request, group_name, member_id)
    data = body.dict(exclude_unset=True, exclude_none=True)
    if not memberpowers.may_act_on(v.is_owner, m):
        raise PermissionDenied("Only owners change an owner's or a moderator's membership.")
    if "role" in data and not v.is_owner:
        raise PermissionDenied(str(memberpowers.ONLY_OWNERS_CHANGE_ROLES))
    refusal = memberpowers.save_settings(v.group, m, data, request.user.email)
    if refusal:
        raise HttpError(409, str(refusal))
    m.refresh_from_db()
    return (m)


def _remove(request: HttpRequest, group_name: str, member_id: int, how: str,
            reason: str) -> dict:
    auth.require_write(request)
    v, m = _member(request, group_name, member_id)
    if not memberpowers.may_act_on(v.is_owner, m):
        raise PermissionDenied("Only owners change an owner's or a moderator's membership.")
    done, refusal = memberpowers.remove(v.group, m, how, request.user.email, reason)
    if refusal:
        raise HttpError(409, str(refusal))
    if not done:
        raise HttpError(409, f"The membership is {m.get_status_display().lower()}: it "
                             "can't be changed that way.")
    m.refresh_from_db()
    return (m)


@router.delete("/{group_name}/members/{member_id}", response={200: MemberOut, **ERRORS},
               summary="Remove a member")
def remove_member(request: HttpRequest, group_name: str, member_id: int,
                  reason: str = "") -> dict:
    return _remove(request, group_name, member_id, "remove", reason[:500])


@router.post("/{group_name}/members/{member_id}/ban", response={200: MemberOut, **ERRORS},
             summary="Ban a member")
def ban_member(request: HttpRequest, group_name: str, member_id: int, body: Reason) -> dict:
    return _remove(request, group_name, member_id, "ban", body.reason)


@router.post("/{group_name}/members/{member_id}/unban", response={200: MemberOut, **ERRORS},
             summary="Lift a member's ban")
def unban_member(request: HttpRequest, group_name: str, member_id: int, body: Reason) -> dict:
    return _remove(request, group_name, member_id, "unban", body.reason)
