"""Shared fixtures: the named people of every test, and mail files read from disk.

alice owns the demo group, bob is a member, charlie is an outsider (STYLE.md #8).
"""

from __future__ import annotations

import os
import random
import socket
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
# Real-world mail, feeds and archives, with their sources and licences (corpora/README.md).
# Every test reads them through this one path.
CORPORA = Path(__file__).resolve().parent / "corpora"


def mail(name: str) -> bytes:
    """A fixture message's bytes, as a client would send them (CRLF line ends)."""
    data = (FIXTURES / "mail" / name).read_bytes()
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


_handed_out: set[int] = set()


def _port_range() -> tuple[int, int]:
    """This test process's own slice of the ports below the ephemeral range.

    xdist workers (gw0, gw1, ...) get disjoint slices, so two workers never
    pick the same port in the moment between the check and the server's bind.
    """
    low, _high = _ephemeral_range()
    top = max(low - 1, 20000)
    bottom = max(10000, top - 12000)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    try:
        index = int(worker.removeprefix("gw")) % max(count, 1)
    except ValueError:
        index = 0
    size = (top - bottom) // max(count, 1)
    return bottom + index * size, bottom + (index + 1) * size - 1


def free_port() -> int:
    """A port that is free now and that nothing else of the test run will take meanwhile.

    A port the kernel hands out for ``bind(0)`` comes from the ephemeral range,
    where every outgoing connection also takes its source port: between our
    check and the server's bind, one of the suite's thousands of connections
    could take it ("address already in use"). So pick below that range, in this
    worker's own slice, never the same port twice in one process, and check
    that it binds.
    """
    low, high = _port_range()
    for _ in range(500):
        port = random.randint(low, high)
        if port in _handed_out:
            continue
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    with socket.socket() as s:  # a crowded machine: fall back to the kernel's choice
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def built_jobs() -> int:
    """Build every accepted post's Karl jobs now, as messageserver's dispatcher would.

    A post's jobs are built after its acceptance (messageserver.fanoutcontinuation),
    by the outbox dispatcher, which runs in messageserver and not in a test's
    process; tests that read a post's jobs run the same code first. Returns how many.
    """
    from messageserver import fanoutcontinuation

    return fanoutcontinuation.expand_pending()


def _start_rank(item: pytest.Item) -> int:
    """0 for a browser test, 1 for one that starts the real processes (e2e), 2 otherwise."""
    if item.get_closest_marker("browser"):
        return 0
    return 1 if item.get_closest_marker("e2e") else 2


@pytest.hookimpl(trylast=True)  # after pytest-django's own (database tests first) ordering
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The modules that start real processes run first, the many quick modules last.

    With ``-n 2 --dist loadfile --no-loadscope-reorder`` (the Makefile's PYTEST_ARGS)
    xdist hands whole modules to the workers in this order: a module's processes start
    once, on one worker, and the two workers finish together, because whatever is left
    at the end is short. A module goes by its earliest-ranked test; within a rank, and
    within a module, the collection order stays (the sort is stable).
    """
    rank: dict[str, int] = {}
    for item in items:
        module = item.nodeid.split("::", 1)[0]
        rank[module] = min(rank.get(module, 2), _start_rank(item))
    items.sort(key=lambda item: rank[item.nodeid.split("::", 1)[0]])


@pytest.fixture
def demo_group(db):
    from groups.membership import add_members
    from groups.models import Group, Membership

    group = Group.objects.create(name="demo", title="Demo group")
    add_members(group, ["Alice Owner <alice@example.org>"], role=Membership.Role.OWNER)
    add_members(group, ["Bob Member <bob@example.org>", "dora@example.org"])
    return group


def _unavailable(reason: str) -> None:
    if in_ci():
        pytest.fail(f"browser tests must run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium through Playwright, one per test module.

    While a sync Playwright lives, its event loop counts as running in the
    test process: every later test that calls ``asyncio.run`` (Karl's SMTP
    client tests, say) would fail with "cannot be called from a running event
    loop" if the browser lived for the whole session, depending only on how
    xdist happened to order the tests. So it lives for one module and is gone
    before the next starts (and a second one never meets the first). Missing
    Chromium skips the test, except in CI (CI=true), where .ci/run installs
    it: there it fails.
    """
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright Python package is not installed")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(autouse=True)
def site_language_after_each_test():
    """Django's LocaleMiddleware activates a page's language in the thread and never resets
    it (each real request activates its own); in one test process a German page would
    leave the next test German. Every test starts again in the site's default language."""
    yield
    import sys

    if "django.utils.translation" in sys.modules:
        from django.conf import settings

        if settings.configured:
            from django.utils import translation

            translation.deactivate()
