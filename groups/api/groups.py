"""/groups: the directory as this user sees it, one group, creating one, its settings."""


from typing import Annotated, Any, Literal

from django import forms
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from ninja.errors import HttpError, ValidationError
from pydantic import Field, create_model

from groups import groupcreation
from groups.api import auth
from groups.api.schemas import NO_NUL, SOME_TEXT, Error, GroupCreate, GroupDetail, GroupOut, Input
from groups.models import Group, Membership, Topic
from groups.web import access
from groups.web.groupforms import CreateGroupForm
from groups.web.views.groupadmin import SECTIONS

router = Router(tags=["groups"])
# A size as the settings page takes it: "10 MB", "500 KB", a bare number of MB.
SIZE_PATTERN = r"^\s*\d+(?:[.,]\d+)?\s*(?:[kK][bB]?|[mM][bB]?)?\s*$"
ERRORS = {400: Error, 401: Error, 403: Error, 404: Error, 409: Error, 422: Error, 429: Error}


def form_errors(form: forms.BaseForm) -> ValidationError:
    """A Django form's errors as the API's 422, each under its field's name."""
    return ValidationError([{"loc": ["body", name if name != "__all__" else "_"],
                             "msg": " ".join(str(e) for e in errors)}
                            for name, errors in form.errors.items()])


class Listing(Schema):
    q: str = Field("", max_length=200, pattern=NO_NUL)
    mine: bool = False


@router.get("/", response={200: list[GroupOut], **ERRORS}, summary="List groups")
def list_groups(request: HttpRequest, filters: Query[Listing]) -> list[dict]:
    """The groups this user can see (hidden groups only to their members); `mine=true`
    for the groups they belong to; `q` searches names, titles and descriptions."""
    groups = auth.scoped_groups(request, access.visible_groups(request.user))
    if filters.mine:
        groups = groups.filter(memberships__user=request.user,
                               memberships__status=Membership.Status.ACTIVE)
    if filters.q.strip():
        from django.db.models import Q
        q = filters.q.strip()
        groups = groups.filter(Q(name__icontains=q) | Q(title__icontains=q)
                               | Q(description__icontains=q))
    return list(groups.order_by("name")[:1000])


@router.post("/", response={201: GroupDetail, **ERRORS}, summary="Create a group")
def create_group(request: HttpRequest, body: GroupCreate) -> Status:
    """A new group with the caller as its owner (the site's GROUP_CREATION setting applies)."""
    auth.require_write(request)
    if auth.allowed_group_ids(request) is not None:
        raise PermissionDenied("A key limited to one group can't create groups.")
    if not groupcreation.may_create(request.user):
        raise PermissionDenied("Only the site's staff create groups here.")
    if Group.objects.filter(name=body.name).exists():
        raise HttpError(409, f"A group named “{body.name}” exists already.")
    form = CreateGroupForm(body.dict())
    if not form.is_valid():
        raise form_errors(form)
    data = form.cleaned_data
    try:
        group = groupcreation.create_for(request.user, data)
    except groupcreation.NameTaken:
        raise HttpError(409, f"A group named “{data['name']}” exists already.") from None
    return Status(201, detail(request, group))


def detail(request: HttpRequest, group: Group) -> Group:
    """The group with the counts and the caller's own membership (GroupDetail's fields)."""
    m = access.membership_for(group, request.user)
    group.member_count = Membership.objects.filter(
        group=group, status=Membership.Status.ACTIVE).count()
    group.topic_count = Topic.objects.filter(group=group).count()
    group.your_role = m.role if m else None
    group.your_status = m.status if m else None
    return group


@router.get("/{group_name}", response={200: GroupDetail, **ERRORS}, summary="Get a group")
def get_group(request: HttpRequest, group_name: str) -> Group:
    return detail(request, auth.viewer(request, group_name).group)


# --- settings: the owners' settings forms, field for field ---------------------------

SETTINGS_FORMS = [s.form for s in SECTIONS if s.form is not None]


def _python_type(name: str, field: forms.Field) -> Any:
    """The JSON type of one settings form field, as narrow as the form is."""
    if name in ("max_message_size", "max_attachment_size"):  # bytes, or "10 MB" as typed
        return Annotated[int, Field(ge=1024)] | Annotated[str, Field(pattern=SIZE_PATTERN)]
    if isinstance(field, forms.BooleanField):
        return bool
    if isinstance(field, forms.TypedChoiceField | forms.ChoiceField):
        values = tuple(str(v) for v, _ in field.choices if v != "" or not field.required)
        return Literal[values] if values else str
    if isinstance(field, forms.IntegerField):
        limits = {}
        if field.min_value is not None:
            limits["ge"] = field.min_value
        if field.max_value is not None:
            limits["le"] = field.max_value
        return Annotated[int, Field(**limits)]
    limits = {"max_length": field.max_length} if getattr(field, "max_length", None) else {}
    limits["pattern"] = SOME_TEXT if field.required else NO_NUL
    return Annotated[str, Field(**limits)]


def _settings_fields() -> dict[str, forms.Field]:
    found: dict[str, forms.Field] = {}
    for form_class in SETTINGS_FORMS:
        for name, field in form_class().fields.items():
            found.setdefault(name, field)
    return found


def _settings_schema() -> type[Schema]:
    fields = {}
    for name, field in _settings_fields().items():
        fields[name] = (_python_type(name, field) | None, None)
    return create_model("GroupSettingsUpdate", __base__=Input, **fields)


def settings_of(group: Group) -> dict[str, Any]:
    return {name: getattr(group, name) for name in _settings_fields()}


GroupSettingsUpdate = _settings_schema()
GroupSettings = create_model(
    "GroupSettings", __base__=Schema,
    **{name: (Any, None) for name in _settings_fields()})


@router.get("/{group_name}/settings", response={200: GroupSettings, **ERRORS},
            summary="Get a group's settings (owners)")
def get_settings(request: HttpRequest, group_name: str) -> dict:
    return settings_of(auth.owner(request, group_name).group)


@router.patch("/{group_name}/settings", response={200: GroupSettings, **ERRORS},
              summary="Change a group's settings (owners)")
def update_settings(request: HttpRequest, group_name: str,
                    body: GroupSettingsUpdate) -> dict:  # type: ignore[valid-type]
    """Only the fields given change; each is checked by the same form as on the settings
    page, so a value the page refuses is refused here, naming the field."""
    auth.require_write(request)
    group = auth.owner(request, group_name).group
    given = body.dict(exclude_unset=True, exclude_none=True)  # type: ignore[attr-defined]
    bound = []
    for form_class in SETTINGS_FORMS:
        names = [n for n in form_class().fields if n in given]
        if not names:
            continue
        current = form_class(instance=group)
        data = {}
        for name, field in current.fields.items():
            value = given[name] if name in given else current.initial.get(name)
            if name in given and isinstance(value, int) and not isinstance(value, bool) \
                    and name in ("max_message_size", "max_attachment_size"):
                value = f"{value / 1024:.0f} KB" if value % (1024 * 1024) else \
                    f"{value // (1024 * 1024)} MB"
            value = field.prepare_value(value) if name not in given else value
            if isinstance(field, forms.BooleanField):
                if value:
                    data[name] = "on"
            elif value is not None:
                data[name] = value
        form = form_class(data, instance=group)
        if not form.is_valid():
            raise form_errors(form)
        bound.append(form)
    with transaction.atomic():
        for form in bound:
            group = form.save()
    group.refresh_from_db()
    return settings_of(group)
