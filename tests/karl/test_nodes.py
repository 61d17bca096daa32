"""Karl nodes: which node sends to which domain (karl.nodes), without any process.

Rendezvous hashing must be stable (the same domain, the same node, run after
run), spread domains over the nodes, and move only the domains of a node that
goes away, each to a surviving node, and back when it returns.
"""

from __future__ import annotations

from collections import Counter

import httpx
import pytest

from karl import nodes
from platformcore.env import SettingError, karl_urls
from platformcore.internalhttp import ServiceUnavailable, unreachable

NODES = ["http://10.0.0.1:8002", "http://10.0.0.2:8002", "http://10.0.0.3:8002"]
DOMAINS = [f"d{i}.example" for i in range(3000)]


def test_a_domain_always_goes_to_the_same_node():
    first = {d: nodes.owner(d, NODES) for d in DOMAINS}
    assert {d: nodes.owner(d, list(reversed(NODES))) for d in DOMAINS} == first
    # the order of preference is the ranking's first healthy node
    assert all(nodes.rank(d, NODES)[0] == first[d] for d in DOMAINS[:200])
    # the domain is compared as DNS does: case and a final dot make no difference
    assert nodes.domain_of("Bob@EXAMPLE.com.") == "example.com"


def test_domains_spread_over_the_nodes():
    spread = Counter(nodes.owner(d, NODES) for d in DOMAINS)
    assert set(spread) == set(NODES)
    assert min(spread.values()) > len(DOMAINS) / len(NODES) * 0.85, spread


def test_a_node_going_away_moves_only_its_domains_and_they_come_back():
    before = {d: nodes.owner(d, NODES) for d in DOMAINS}
    gone = NODES[1]
    survivors = [n for n in NODES if n != gone]
    after = {d: nodes.owner(d, survivors) for d in DOMAINS}
    moved = {d for d in DOMAINS if before[d] != after[d]}
    assert moved == {d for d in DOMAINS if before[d] == gone}
    # the dead node's domains spread over both survivors, not all onto one
    assert set(after[d] for d in moved) == set(survivors)
    assert {d: nodes.owner(d, NODES) for d in DOMAINS} == before  # it returns: all back


def test_partition_keeps_each_domain_on_one_node_and_every_recipient_once():
    rcpts = [{"address": f"u{i}@{DOMAINS[i % 40]}"} for i in range(400)]
    parts = nodes.partition(rcpts, NODES)
    flat = [r["address"] for part in parts.values() for r in part]
    assert sorted(flat) == sorted(r["address"] for r in rcpts)
    for node, part in parts.items():
        assert {nodes.owner(nodes.domain_of(r["address"]), NODES) for r in part} == {node}
    assert list(nodes.partition(rcpts, NODES[:1])) == NODES[:1]


def test_health_is_believed_for_its_ttl_and_a_failed_hand_off_marks_a_node_down():
    now = [0.0]
    asked: list[str] = []

    def probe(url: str) -> bool:
        asked.append(url)
        return True

    health = nodes.Health(ttl=5, probe=probe, clock=lambda: now[0])
    assert health.healthy(NODES) == NODES and len(asked) == 3
    assert health.healthy(NODES) == NODES and len(asked) == 3  # cached
    health.mark_down(NODES[0])
    assert health.healthy(NODES) == NODES[1:] and len(asked) == 3
    now[0] = 6.0  # the TTL passed: asked again, and it answers
    assert health.healthy(NODES) == NODES and len(asked) == 6
    assert nodes.Health(ttl=5, probe=lambda url: False).healthy(NODES[:1]) == NODES[:1], \
        "one node is never asked (today's single Karl)"


def test_only_a_hand_off_that_never_arrived_may_go_elsewhere():
    refused = unreachable("Karl", NODES[0], httpx.ConnectError("refused"))
    refused.__cause__ = httpx.ConnectError("refused")
    timed_out = unreachable("Karl", NODES[0], httpx.ReadTimeout("slow"))
    timed_out.__cause__ = httpx.ReadTimeout("slow")
    assert nodes.not_accepted(refused)
    assert not nodes.not_accepted(timed_out)
    assert nodes.not_accepted(ServiceUnavailable("Karl", 503, {"error": "spool unavailable"}))
    assert not nodes.not_accepted(ServiceUnavailable("Karl", 500, {"error": "boom"}))


def test_karl_urls_parsing():
    assert karl_urls("", "http://127.0.0.1:8002") == ("http://127.0.0.1:8002",)
    assert karl_urls(" http://a:1/, http://b:2,http://a:1 ", "x") == ("http://a:1", "http://b:2")
    with pytest.raises(SettingError, match="KARL_URLS entry 'a:1'"):
        karl_urls("a:1", "x")
