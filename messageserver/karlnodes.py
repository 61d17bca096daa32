"""Plan an outbox row onto the Karl nodes: which node gets it, split by destination domain.

The outbox (messageserver.outbox) claims a row, asks ``Router.plan`` where it
goes, and hands each planned row to its node. The rule that keeps every copy
sent once across nodes lives here:

- A row's node (``OutboxItem.karl_node``) is written before the hand-off. A row
  with a node is pinned to it: it is only ever submitted there again, with the
  same Idempotency-Key, so a node that may have spooled it answers with the job
  it has, and no other node sends those copies.
- Only a hand-off that certainly did not reach the node's spool un-pins the row
  (karl.nodes.not_accepted: the connection was refused, or Karl answered 503 or 429);
  the row is then planned again onto the nodes that are healthy now. A timeout
  or a dropped answer leaves it pinned (the node may have it), and so does any
  failure of a later attempt: only a node chosen in this very pass (``fresh``)
  is known never to have seen the row.
- Planning a fan-out job partitions its recipients by destination domain
  (karl.nodes.partition over the healthy nodes). When they fall on several
  nodes the row is replaced, in one transaction, by one row per node, each
  with its own id and so its own Idempotency-Key; the description keeps the
  post's name so the delivery report still finds every part.

With one node and with a client passed in (tests, benchmarks) nothing is split:
the row goes to that one client as before.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from groups.models import OutboxItem
from karl import nodes as karlnodes
from karl.client import KarlClient, KarlUnavailable


class NodeDown(KarlUnavailable):
    """The row is pinned to a node that is down: it waits for that node."""

    def __init__(self, node: str) -> None:
        super().__init__("Karl", 0, None, f"Karl node {node} is down; its rows wait for it")


def _route_address(item: OutboxItem) -> str:
    """What a row without a recipient list is routed by: its first recipient, else its id."""
    to = item.payload.get("to")
    first = to[0] if isinstance(to, list) and to else to
    return first if isinstance(first, str) and "@" in first else f"row-{item.pk}@outbox"


_PART = re.compile(r" \(node part \d+ of \d+\)$")


def part_description(description: str, n: int, total: int) -> str:
    """A split row's description: the post's own name first (groups.deliveryreport finds it).

    A part split again (its node went down before taking it) is renumbered, not nested.
    """
    return f"{_PART.sub('', description)} (node part {n} of {total})"[:200]


class Router:
    """Where this dispatcher pass sends each row: a fixed client, or the Karl nodes."""

    def __init__(self, client: Any | None = None, urls: Sequence[str] | None = None,
                 health: karlnodes.Health | None = None) -> None:
        self.fixed = client
        self.urls = tuple(urls or karlnodes.node_urls())
        self.health = health or karlnodes.shared_health()
        self._clients: dict[str, Any] = {}
        self.fresh: set[int] = set()  # rows whose node was chosen in this pass

    @property
    def several(self) -> bool:
        return self.fixed is None and len(self.urls) > 1

    def client(self, node: str) -> Any:
        if self.fixed is not None:
            return self.fixed
        if node not in self._clients:
            self._clients[node] = KarlClient(base_url=node)
        return self._clients[node]

    def mark_down(self, node: str) -> None:
        if self.several:
            self.health.mark_down(node)

    def plan(self, item: OutboxItem) -> list[OutboxItem]:
        """The claimed ``item`` as rows to hand off, each with its node recorded.

        Raises NodeDown for a row pinned to a node that is down, NoHealthyNode
        when no node is; either way the row is kept and retried later.
        """
        if self.fixed is not None:
            return [item]
        if not self.several:  # one node: today's single Karl, whatever a row recorded before
            return [self._pin(item, self.urls[0]) if item.karl_node != self.urls[0] else item]
        if item.karl_node:
            if not self.health.is_healthy(item.karl_node):
                raise NodeDown(item.karl_node)
            return [item]
        healthy = self.health.healthy(self.urls)
        if not healthy:
            raise karlnodes.NoHealthyNode(self.urls)
        recipients = item.payload.get("recipients")
        if item.kind != OutboxItem.Kind.JOB or not isinstance(recipients, list):
            node = karlnodes.owner(karlnodes.domain_of(_route_address(item)), healthy)
            return [self._pin(item, node)]
        parts = karlnodes.partition(recipients, healthy)
        if len(parts) == 1:
            return [self._pin(item, next(iter(parts)))]
        return self._split(item, parts)

    def _pin(self, item: OutboxItem, node: str) -> OutboxItem:
        OutboxItem.objects.filter(pk=item.pk).update(karl_node=node)
        item.karl_node = node
        self.fresh.add(item.pk)
        return item

    def may_replan(self, item: OutboxItem, exc: KarlUnavailable) -> bool:
        """Whether ``item``'s failed hand-off lets it go to another node: its node was
        chosen in this pass (no earlier attempt can have reached it) and the failure
        certainly left nothing there."""
        return self.several and item.pk in self.fresh and karlnodes.not_accepted(exc)

    def _split(self, item: OutboxItem, parts: dict[str, list[dict[str, Any]]]
               ) -> list[OutboxItem]:
        """One row per node instead of ``item`` (never handed off, so nothing can be twice)."""
        now = timezone.now()
        with transaction.atomic():
            rows = [OutboxItem.objects.create(
                kind=item.kind, payload={**item.payload, "recipients": part},
                state=OutboxItem.State.SENDING, claimed_at=now, claimed_by=item.claimed_by,
                created_at=now, next_attempt_at=now, karl_node=node,
                description=part_description(item.description, n, len(parts)))
                for n, (node, part) in enumerate(parts.items(), 1)]
            OutboxItem.objects.filter(pk=item.pk).delete()
        self.fresh.update(row.pk for row in rows)
        return rows

    def replan(self, item: OutboxItem) -> None:
        """A hand-off that certainly did not arrive: the row is planned afresh next pass."""
        OutboxItem.objects.filter(pk=item.pk).update(
            karl_node="", state=OutboxItem.State.PENDING, attempts=item.attempts + 1,
            next_attempt_at=timezone.now())


@dataclass
class NodeState:
    """One Karl node as `manage.py outbox --nodes` and the site's outbox page show it."""

    url: str
    healthy: bool
    waiting: int  # rows pinned to it and not yet taken (its own or a timed-out hand-off)
    handed_off: int  # rows it took (its spool delivers them, also after a restart)
    configured: bool = True  # False: no longer in KARL_URLS but rows still name it


def node_states(health: karlnodes.Health | None = None) -> list[NodeState]:
    """Every configured node (asked /health now), and any other node rows still name."""
    health = health or karlnodes.Health(ttl=0)
    counts: dict[tuple[str, str], int] = {}
    for node, state, n in (OutboxItem.objects.exclude(karl_node="")
                           .values_list("karl_node", "state").annotate(n=Count("id"))):
        counts[(node, state)] = n
    urls = list(karlnodes.node_urls())
    urls += sorted({node for node, _ in counts} - set(urls))
    configured = set(karlnodes.node_urls())
    return [NodeState(url, health.is_healthy(url),
                      counts.get((url, OutboxItem.State.PENDING), 0)
                      + counts.get((url, OutboxItem.State.SENDING), 0),
                      counts.get((url, OutboxItem.State.DONE), 0), url in configured)
            for url in urls]
