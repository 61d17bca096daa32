"""The wiki on the website: pages, editing (with preview), history, diffs, revert.

Readers of the archive read it; ``wiki_edited_by`` says who edits (members, or
moderators); moderators revert. The rules are groups/wiki.py's.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from groups import wiki
from groups.models import WikiPage
from groups.web import access
from messageserver.client import MessageServerClient, MessageServerError, MessageServerUnavailable

NEW = "new"


def _reader(request: HttpRequest, group_name: str) -> access.Viewer:
    v = access.reader(request, group_name)
    if not v.group.wiki_enabled:
        raise Http404("this group has no wiki")
    return v


def may_edit(v: access.Viewer) -> bool:
    if v.group.wiki_edited_by == "moderators":
        return v.is_moderator
    return v.is_member or v.is_site_admin


class PageForm(forms.Form):
    title = forms.CharField(max_length=200, label=gettext_lazy("Title"))
    body = forms.CharField(required=False, label=gettext_lazy("Text (Markdown)"),
                           widget=forms.Textarea(attrs={"rows": 18}),
                           help_text=gettext_lazy("Link to another page with [[Its title]]."))
    comment = forms.CharField(required=False, max_length=300,
                              label=gettext_lazy("What you changed"))
    announce = forms.BooleanField(required=False,
                                  label=gettext_lazy("Tell the group about this change"))
    base = forms.IntegerField(widget=forms.HiddenInput, min_value=0)


def index(request: HttpRequest, group_name: str) -> HttpResponse:
    v = _reader(request, group_name)
    home = WikiPage.objects.filter(group=v.group, slug=wiki.HOME).first()
    return render(request, "groups/wiki_index.html", {
        "v": v, "group": v.group, "pages": WikiPage.objects.filter(group=v.group),
        "home": home, "home_html": mark_safe(wiki.render(v.group, home.body)) if home else "",
        "may_edit": request.user.is_authenticated and may_edit(v)})


def page(request: HttpRequest, group_name: str, slug: str) -> HttpResponse:
    v = _reader(request, group_name)
    found = WikiPage.objects.filter(group=v.group, slug=slug).first()
    if found is None:
        if request.user.is_authenticated and may_edit(v):
            return redirect("wiki_edit", v.group.name, slug)
        raise Http404("no such page")
    return render(request, "groups/wiki_page.html", {
        "v": v, "group": v.group, "page": found,
        "html": mark_safe(wiki.render(v.group, found.body)),  # sanitised by the renderer
        "may_edit": request.user.is_authenticated and may_edit(v)})


@login_required
def edit(request: HttpRequest, group_name: str, slug: str) -> HttpResponse:
    v = _reader(request, group_name)
    if not may_edit(v):
        raise Http404("you may not edit this wiki")
    slug = wiki.slug_for(slug) if slug != wiki.HOME else slug
    fresh = slug == NEW  # a page whose address comes from the title it is given
    found = None if fresh else WikiPage.objects.filter(group=v.group, slug=slug).first()
    initial = {"title": found.title if found else "" if fresh else
               slug.replace("-", " ").capitalize(),
               "body": found.body if found else "", "base": found.revision if found else 0}
    form = PageForm(request.POST or None, initial=initial)
    preview = None
    status = 200
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if request.POST.get("preview"):
            preview = mark_safe(wiki.render(v.group, data["body"]))
        else:
            if fresh:
                slug = wiki.slug_for(data["title"])
                if slug == NEW or WikiPage.objects.filter(group=v.group, slug=slug).exists():
                    form.add_error("title", _("A page with this title exists already."))
                    return render(request, "groups/wiki_edit.html", {
                        "v": v, "group": v.group, "form": form, "page": None,
                        "slug": NEW, "preview": None}, status=400)
            try:
                saved = wiki.save(v.group, slug, data["title"], data["body"],
                                  author=request.user, comment=data["comment"],
                                  base=data["base"])
            except wiki.Conflict as exc:
                form.add_error(None, f"{exc} " + _("Their text is below; copy your changes "
                                                   "into it and save again."))
                latest = WikiPage.objects.get(group=v.group, slug=slug)
                form.data = form.data.copy()
                form.data["base"] = latest.revision
                preview = mark_safe(wiki.render(v.group, latest.body))
                status = 409
            else:
                flash.success(request, _("The page is saved (version %(n)s).")
                              % {"n": saved.revision})
                if data["announce"]:
                    _announce(request, v, saved, data["comment"])
                return redirect("wiki_page", v.group.name, saved.slug)
    elif request.method == "POST":
        status = 400
    return render(request, "groups/wiki_edit.html", {
        "v": v, "group": v.group, "form": form, "page": found, "slug": slug,
        "preview": preview}, status=status)


def _announce(request: HttpRequest, v: access.Viewer, saved: WikiPage, comment: str) -> None:
    try:
        MessageServerClient().post(v.group.name, v.membership.email,
                                   f"Wiki: {saved.title}", wiki.announce_text(saved, comment))
    except (MessageServerError, MessageServerUnavailable):
        flash.error(request, _("The page is saved, but the group could not be told now."))


def history(request: HttpRequest, group_name: str, slug: str) -> HttpResponse:
    v = _reader(request, group_name)
    found = get_object_or_404(WikiPage, group=v.group, slug=slug)
    if request.method == "POST":
        if not (request.user.is_authenticated and may_edit(v)):
            raise Http404("you may not edit this wiki")
        number = request.POST.get("revert", "")
        if not number.isdigit() or not found.revisions.filter(number=int(number)).exists():
            raise Http404("no such version")
        wiki.revert(found, int(number), author=request.user)
        flash.success(request, _("Reverted to version %(n)s.") % {"n": number})
        return redirect("wiki_page", v.group.name, found.slug)
    revisions = found.revisions.select_related("author")
    older = request.GET.get("from", "")
    newer = request.GET.get("to", "")
    lines = None
    if older.isdigit() and newer.isdigit():
        a = get_object_or_404(revisions, number=int(older))
        b = get_object_or_404(revisions, number=int(newer))
        lines = wiki.diff(a, b)
    return render(request, "groups/wiki_history.html", {
        "v": v, "group": v.group, "page": found, "revisions": revisions, "diff": lines,
        "older": older, "newer": newer,
        "may_edit": request.user.is_authenticated and may_edit(v)})
