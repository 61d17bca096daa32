"""The URL converter of a group's name: a name, or a subgroup's PARENT+CHILD."""

from __future__ import annotations


class GroupNameConverter:
    regex = r"[A-Za-z0-9][A-Za-z0-9_-]*(?:\+[A-Za-z0-9][A-Za-z0-9_-]*)?"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value
