"""The spool as a gateway configuration describes it (the serving and the delivery process alike)."""

from __future__ import annotations

from gateway.config import GatewayConfig
from gateway.spool.durable_queue import Spool


async def open_spool(config: GatewayConfig, *, handoff: bool = True, accept_empty: bool = False) -> Spool:
    """This instance's spool, with the configured free-space reserve and size cap."""
    return await Spool.open(config.state_dir / "spool", max_size_bytes=config.state.spool_max_bytes,
                            min_free_bytes=config.state.min_free_bytes, handoff=handoff,
                            accept_empty=accept_empty)
