"""The Django-free core every process shares: settings parsing, internal HTTP, DNS, observability.

karl, errord and smtpd depend on this package and never on groups/ or Django;
this package depends on nothing of ours (import-linter contracts in pyproject.toml).
"""
