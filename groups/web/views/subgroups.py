"""Subgroups on the website: a group's owners make subgroups (PARENT+CHILD@) and see them
listed; each subgroup then has its own archive, settings, members and delivery."""

from __future__ import annotations

from django import forms
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from groups import groupcreation
from groups.models import Group
from groups.web import access


class SubgroupForm(forms.Form):
    child = forms.CharField(max_length=64, label=gettext_lazy("Subgroup name"),
                            help_text=gettext_lazy("Its address is PARENT+NAME@: lower-case "
                                                   "letters, digits and hyphens."))
    title = forms.CharField(max_length=200, label=gettext_lazy("Title"))
    description = forms.CharField(required=False, label=gettext_lazy("Description"),
                                  widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, parent: Group, **kwargs):  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.parent = parent

    def clean_child(self) -> str:
        child = self.cleaned_data["child"].strip().lower()
        problem = groupcreation.subgroup_problem(self.parent, child)
        if problem:
            raise forms.ValidationError(problem)
        return child


@login_required
def subgroups(request: HttpRequest, group_name: str) -> HttpResponse:
    v = access.owner(request, group_name)
    form = SubgroupForm(request.POST or None, parent=v.group)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            made = groupcreation.create_subgroup(
                v.group, child=data["child"], title=data["title"],
                description=data["description"], owner_email=request.user.email,
                owner_name=getattr(request.user, "display_name", ""))
        except groupcreation.NameTaken:
            form.add_error("child", _("That name was just taken; choose another."))
        else:
            flash.success(request, _("%(title)s is made; its address is %(address)s.")
                          % {"title": made.display_title, "address": made.post_address})
            return redirect("mod_settings", made.name)
    return render(request, "groups/mod/subgroups.html", {
        "v": v, "group": v.group, "form": form,
        "subgroups": Group.objects.filter(parent=v.group).order_by("name")},
        status=400 if form.is_bound and form.errors else 200)
