"""Which Karl node sends to which destination, and which nodes may take new work.

Several Karl nodes (KARL_URLS) each keep their own spool; the callers that hand
work to Karl (messageserver's outbox, the website's own mail) ask this module
where to send it. It never moves work a node has accepted: that node's spool
delivers it, when it comes back if it is down (docs/design.md, "Karl nodes").

- Assignment is by destination domain with rendezvous (highest-random-weight)
  hashing: each domain ranks every node by a hash of (node, domain) and goes to
  the first healthy one. The ranking never changes, so a node going away moves
  only its own domains (each to its next choice) and its return moves them back;
  every domain's connections stay on one node, which keeps the per-host
  connection limits and the receivers' view of us coherent.
- A node is healthy when it answered ``GET /health`` with 200 within the last
  KARL_HEALTH_TTL seconds. A hand-off that fails marks it down at once
  (``mark_down``); it is asked again once the TTL has passed.

With one node (the default) every domain goes to it and its health is never
asked: the single-Karl behaviour, exactly.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import httpx

from platformcore.env import env_float, get_env
from platformcore.internalhttp import ServiceUnavailable, auth_headers, shared_client

HEALTH_TIMEOUT = 2.0
NOT_ACCEPTED_STATUSES = (429, 503)  # Karl answered without spooling (busy, spool unwritable)


class NoHealthyNode(ServiceUnavailable):
    """No Karl node answers /health: keep the work and try again later."""

    def __init__(self, nodes: Sequence[str]) -> None:
        super().__init__("Karl", 0, None,
                         f"no Karl node is healthy (of {', '.join(nodes)})")


def node_urls() -> tuple[str, ...]:
    """Every configured node's base URL (KARL_URLS, else the one Karl)."""
    return get_env().karl_urls


def health_ttl() -> float:
    """KARL_HEALTH_TTL: seconds a node's answer to /health is believed (default 5)."""
    return max(0.0, env_float("KARL_HEALTH_TTL", 5.0))


def domain_of(address: str) -> str:
    """The destination domain of an address, lower-cased (the whole address without @)."""
    return address.rpartition("@")[2].strip().lower().rstrip(".")


def _weight(node: str, domain: str) -> int:
    digest = hashlib.blake2b(f"{node}\0{domain}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def rank(domain: str, nodes: Iterable[str]) -> list[str]:
    """Every node in the domain's order of preference (rendezvous hashing; stable)."""
    return sorted(nodes, key=lambda node: (_weight(node, domain), node), reverse=True)


def owner(domain: str, nodes: Sequence[str]) -> str:
    """The node that sends to ``domain`` while ``nodes`` are the healthy ones."""
    if not nodes:
        raise ValueError("no nodes to choose from")
    if len(nodes) == 1:
        return nodes[0]
    return max(nodes, key=lambda node: (_weight(node, domain), node))


def partition(recipients: Sequence[dict[str, Any]], nodes: Sequence[str]
              ) -> dict[str, list[dict[str, Any]]]:
    """A job's recipients by the node that sends to their domain (order kept within each).

    Nodes appear in the order of ``nodes``; nodes with no recipients are left out.
    """
    owners: dict[str, str] = {}
    parts: dict[str, list[dict[str, Any]]] = {node: [] for node in nodes}
    for rcpt in recipients:
        domain = domain_of(str(rcpt.get("address", "")))
        node = owners.get(domain)
        if node is None:
            node = owners[domain] = owner(domain, nodes)
        parts[node].append(rcpt)
    return {node: part for node, part in parts.items() if part}


def probe(url: str) -> bool:
    """Whether the node at ``url`` answers /health with 200 (its spool takes writes)."""
    try:
        response = shared_client().get(url + "/health", timeout=HEALTH_TIMEOUT,
                                       headers=auth_headers(get_env().internal_api_token))
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def not_accepted(exc: ServiceUnavailable) -> bool:
    """Whether a failed hand-off certainly left nothing at the node (safe to send elsewhere).

    True for a connection that was never made (the request was not sent) and
    for Karl's own "not now" answers; False for a timeout or a connection lost
    after the request went out, when the node may have spooled the job.
    """
    if exc.status in NOT_ACCEPTED_STATUSES:
        return True
    return exc.status == 0 and isinstance(exc.__cause__, (httpx.ConnectError,
                                                          httpx.ConnectTimeout))


def candidates(address: str, nodes: Sequence[str] | None = None,
               health: Health | None = None) -> list[str]:
    """The nodes to try for one message to ``address``: the healthy ones in the domain's
    order of preference (rendezvous), then the others, in case the cache is stale."""
    nodes = tuple(nodes or node_urls())
    if len(nodes) == 1:
        return list(nodes)
    health = health or shared_health()
    ranked = rank(domain_of(address), nodes)
    up = set(health.healthy(ranked))
    return [n for n in ranked if n in up] + [n for n in ranked if n not in up]


class Health:
    """Each node's last known health, believed for ``ttl`` seconds (thread-safe).

    ``probe`` and ``clock`` are parameters so the unit tests can drive time;
    the processes use the real /health and the monotonic clock.
    """

    def __init__(self, ttl: float | None = None,
                 probe: Callable[[str], bool] = probe,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = health_ttl() if ttl is None else ttl
        self._probe, self._clock = probe, clock
        self._known: dict[str, tuple[bool, float]] = {}
        self._lock = threading.Lock()

    def is_healthy(self, url: str) -> bool:
        with self._lock:
            known = self._known.get(url)
        if known is not None and self._clock() - known[1] < self.ttl:
            return known[0]
        ok = self._probe(url)
        with self._lock:
            self._known[url] = (ok, self._clock())
        return ok

    def healthy(self, nodes: Sequence[str]) -> list[str]:
        """The healthy nodes among ``nodes``; a single node is taken as healthy unasked."""
        if len(nodes) == 1:
            return list(nodes)
        return [node for node in nodes if self.is_healthy(node)]

    def mark_down(self, url: str) -> None:
        """A hand-off to ``url`` failed: no new work goes there until it answers again."""
        with self._lock:
            self._known[url] = (False, self._clock())

    def snapshot(self) -> dict[str, bool | None]:
        """What is known now, without asking (None: not asked yet or too long ago)."""
        now = self._clock()
        with self._lock:
            return {url: (ok if now - at < self.ttl else None)
                    for url, (ok, at) in self._known.items()}


_shared: Health | None = None


def shared_health() -> Health:
    """The process's one health cache (the outbox dispatcher and the website's mail)."""
    global _shared
    if _shared is None:
        _shared = Health()
    return _shared
