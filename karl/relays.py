"""Relay health and the choice of relay for each batch (failover as gomail users expect).

A relay that fails ``fail_threshold`` times in a row (connection refused,
dropped, 421) is unhealthy: it gets one probe batch of a single recipient per
``probe_interval`` until it succeeds ``recover_threshold`` times in a row.
Healthy relays share the load in turn; when none is healthy, all of them do.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass


@dataclass
class RelayHealth:
    name: str
    healthy: bool = True
    failures: int = 0  # in a row
    successes: int = 0  # in a row, while unhealthy
    last_probe: float = 0.0
    probing: bool = False
    last_error: str = ""

    def as_dict(self) -> dict[str, object]:
        return {"relay": self.name, "healthy": self.healthy, "failures_in_a_row": self.failures,
                "last_error": self.last_error}


class RelayPool:
    def __init__(self, relays: tuple[str, ...] | list[str], *, fail_threshold: int = 3,
                 recover_threshold: int = 2, probe_interval: float = 30.0) -> None:
        if not relays:
            raise ValueError("at least one relay is needed")
        self.relays = {name: RelayHealth(name) for name in relays}
        self.fail_threshold, self.recover_threshold = fail_threshold, recover_threshold
        self.probe_interval = probe_interval
        self._turn = itertools.cycle(list(self.relays))

    def choose(self) -> tuple[str, bool]:
        """(relay, is_probe) for the next batch; a probe batch carries one recipient."""
        now = time.monotonic()
        for health in self.relays.values():
            if (not health.healthy and not health.probing
                    and now - health.last_probe >= self.probe_interval
                    and any(h.healthy for h in self.relays.values())):
                health.last_probe, health.probing = now, True
                return health.name, True
        healthy = any(h.healthy for h in self.relays.values())
        for _ in range(len(self.relays)):
            name = next(self._turn)
            if self.relays[name].healthy or not healthy:
                return name, False
        return next(self._turn), False

    def any_healthy_besides(self, name: str) -> bool:
        return any(h.healthy for n, h in self.relays.items() if n != name)

    def report(self, name: str, *, ok: bool, error: str = "", probe: bool = False) -> None:
        """Record a batch's result on a relay: ok means the relay answered."""
        health = self.relays.get(name)
        if health is None:
            return
        if probe:
            health.probing = False
        if ok:
            health.failures = 0
            if not health.healthy:
                health.successes += 1
                if health.successes >= self.recover_threshold:
                    health.healthy, health.successes = True, 0
            return
        health.successes = 0
        health.failures += 1
        health.last_error = error
        if health.failures >= self.fail_threshold:
            health.healthy = False
