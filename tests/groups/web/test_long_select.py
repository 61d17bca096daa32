"""LongSelect writes what Django's template-rendered Select writes, in one pass.

The search page's Group menu lists up to 500 groups; Django's Select renders a
template per option, which cost more than the search itself at a million
messages (docs/capacity.md). The markup must stay the same for people and
their tools: the label's ``for``, the ``required`` and ``aria-*`` attributes,
the selected option, and titles that need escaping.
"""

from __future__ import annotations

from django import forms
from django.test import SimpleTestCase
from django.utils.translation import gettext_lazy

from groups.web.widgets import LongSelect

CHOICES = [("", gettext_lazy("All groups")), ("dev", "Developers"),
           ("r&d", 'R&D "lab" <private>'), ("caf\u00e9", "Caf\u00e9 \u2615"), ("empty", "")]


class Pick(forms.Form):
    plain = forms.ChoiceField(choices=CHOICES, required=False, widget=forms.Select,
                              help_text="Which one.")
    long = forms.ChoiceField(choices=CHOICES, required=False, widget=LongSelect,
                             help_text="Which one.")
    needed = forms.ChoiceField(choices=CHOICES[1:], widget=forms.Select)
    needed_long = forms.ChoiceField(choices=CHOICES[1:], widget=LongSelect)


class LongSelectTests(SimpleTestCase):
    def same(self, data: dict | None) -> None:
        form = Pick(data)
        form.is_valid()
        for plain, long in (("plain", "long"), ("needed", "needed_long")):
            expected = str(form[plain]).replace(f'"{plain}"', "X").replace(f"id_{plain}", "ID")
            got = str(form[long]).replace(f'"{long}"', "X").replace(f"id_{long}", "ID")
            self.assertHTMLEqual(got, expected)

    def test_unbound_markup_equals_djangos_select(self):
        self.same(None)

    def test_a_selected_option_that_needs_escaping(self):
        self.same({"plain": "r&d", "long": "r&d", "needed": "caf\u00e9", "needed_long": "caf\u00e9"})

    def test_an_invalid_choice_keeps_the_error_attributes(self):
        self.same({"plain": "nope", "long": "nope"})
        form = Pick({"long": "nope"})
        self.assertFalse(form.is_valid())
        html = str(form["long"])
        self.assertIn('aria-invalid="true"', html)
        self.assertIn('aria-describedby="id_long_helptext id_long_error"', html)

    def test_titles_are_escaped_not_trusted(self):
        html = str(Pick()["long"])
        self.assertIn("R&amp;D &quot;lab&quot; &lt;private&gt;", html)
        self.assertNotIn("<private>", html)
        self.assertIn('value="r&amp;d"', html)
