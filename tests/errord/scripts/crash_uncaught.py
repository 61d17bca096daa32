"""A process that dies of an exception nobody catches (argv[1]: its service name)."""

import sys

from errord.install import install

install(sys.argv[1])


def parse_job(raw: str) -> int:
    return int(raw)


parse_job("not a number")
