"""/groups/{name}/held: the moderation queue, decided through messageserver as on the
website and by a moderator's emailed reply."""


from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router
from ninja.errors import HttpError
from ninja.pagination import CursorPagination, paginate

from groups.api import auth
from groups.api.groups import ERRORS
from groups.api.schemas import Decision, Error, HeldOut
from groups.models import HeldMessage
from messageserver.client import MessageServerClient, MessageServerError, MessageServerUnavailable

router = Router(tags=["moderation"])


@router.get("/{group_name}/held", response={200: list[HeldOut], **ERRORS},
            summary="List messages waiting for a moderator")
@paginate(CursorPagination, ordering=("created_at", "id"), page_size=50, max_page_size=200)
def list_held(request: HttpRequest, group_name: str):  # noqa: ANN201
    v = auth.moderator(request, group_name)
    return HeldMessage.objects.filter(group=v.group, state=HeldMessage.State.PENDING).defer(
        "raw", "edited_raw")


@router.post("/{group_name}/held/{held_id}", response={200: HeldOut, 503: Error, **ERRORS},
             summary="Approve, reject or discard a held message")
def decide(request: HttpRequest, group_name: str, held_id: int, body: Decision
           ) -> HeldMessage:
    auth.require_write(request)
    v = auth.moderator(request, group_name)
    held = get_object_or_404(HeldMessage.objects.defer("raw", "edited_raw"), group=v.group,
                             pk=held_id)
    if held.state != HeldMessage.State.PENDING:
        raise HttpError(409, f"This message was {held.get_state_display().lower()} already.")
    try:
        MessageServerClient().moderate(held.pk, body.action, request.user.email, body.reason)
    except MessageServerUnavailable:
        raise HttpError(503, "The message server can't be reached right now; nothing was "
                             "decided. Try again in a minute.") from None
    except MessageServerError as exc:
        raise HttpError(409, exc.body.get("error") or str(exc)) from None
    held.refresh_from_db()
    return held
