from __future__ import annotations

import pytest

from tests.e2e.platform import Platform


@pytest.fixture
def platform(tmp_path):
    p = Platform(tmp_path).prepare()
    try:
        yield p
    finally:
        p.stop()
        for name in ("web", "smtpd", "messageserver", "karl", "errord"):
            print(f"--- {name} log ---\n{p.log(name)[-2000:]}")
