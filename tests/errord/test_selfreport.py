"""errord's own errors land in its own store, as the service "errord"."""

from __future__ import annotations

import logging

from errord.selfreport import StoreHandler
from errord.store import Store
from platformcore.env import PROJECT_DIR


def test_errord_errors_are_stored_directly(tmp_path):
    store = Store(tmp_path / "errord.sqlite3", project_dir=str(PROJECT_DIR))
    logger = logging.Logger("errord.server")
    logger.addHandler(StoreHandler(store))
    try:
        {}["missing"]
    except KeyError:
        logger.exception("request handler failed")
    logger.warning("below ERROR: local only")
    groups = store.groups()
    store.close()
    assert len(groups) == 1
    assert groups[0]["service"] == "errord"
    assert groups[0]["exc_type"] == "KeyError"
    assert groups[0]["where"] == (
        "tests/errord/test_selfreport.py:test_errord_errors_are_stored_directly")
