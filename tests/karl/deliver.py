"""One batch through Karl's real Deliverer, in the test's process, to see each recipient's outcome.

The same path the scheduler takes (KarlConfig -> make_transport -> transport ->
Outcome), without a Karl process, so the transport tests can cover many
server behaviours quickly; the tests that need the HTTP API start Karl itself.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

from karl.config import KarlConfig
from karl.delivery import Batch, Deliverer, Outcome
from tests.karl.conftest import DOMAIN, TOKEN, _shared_key, karl_mail

MAIL_FROM = f"bounce@{DOMAIN}"


def karl_config(relay: str, **settings: Any) -> KarlConfig:
    """Karl's settings for one relay; ``settings`` are KarlConfig fields (smtp_timeout=2, ...)."""
    base = KarlConfig(bind_address="127.0.0.1", port=0, spool_dir=Path("/nonexistent"),
                      relays=(relay,), token=TOKEN, domain=DOMAIN, dkim_selector="groups",
                      dkim_key_path=_shared_key(), events_url="http://127.0.0.1:9",
                      helo_name=DOMAIN, smtp_timeout=10.0)
    return replace(base, **settings)


def deliver(config: KarlConfig, *addresses: str) -> list[Outcome]:
    """Send one copy to each address over the config's first relay; outcomes in address order."""

    async def go() -> list[Outcome]:
        deliverer = Deliverer(config)
        batch = Batch("job-1", config.relays[0], karl_mail("mixed_attachment.eml"),
                      {"mail_from": MAIL_FROM, "dkim": False},
                      [(i, {"address": a}) for i, a in enumerate(addresses)])
        try:
            return sorted(await deliverer.deliver(batch), key=lambda o: o.index)
        finally:
            await deliverer.close()

    return asyncio.run(go())
