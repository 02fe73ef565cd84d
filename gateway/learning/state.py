"""What the pipeline reads (gateway/pipeline/holds.py): held templates and restricted tenants."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from gateway.fingerprint import Fingerprint
from gateway.store.base import Disagreement, Store, TenantRestriction


@dataclass(frozen=True, slots=True)
class HeldTemplate:
    disagreement: Disagreement
    fingerprint: Fingerprint


@dataclass(slots=True)
class TenantState:
    read_at: float
    restriction: TenantRestriction | None
    held: tuple[HeldTemplate, ...]


class LearnedState:
    """Per store: each tenant's active restriction and held templates, read at most every
    ``max_age`` seconds. ``forget`` drops what was read (after this instance changed it)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._tenants: dict[str, TenantState] = {}
        self._lock = asyncio.Lock()

    async def of(self, tenant: str, max_age: float) -> TenantState:
        state = self._tenants.get(tenant)
        now = time.monotonic()
        if state is not None and now - state.read_at <= max_age:
            return state
        async with self._lock:
            state = self._tenants.get(tenant)
            if state is not None and time.monotonic() - state.read_at <= max_age:
                return state
            restriction = await self.store.tenant_restriction(tenant)
            held = tuple(HeldTemplate(d, Fingerprint.decode(d.relayed.fingerprint))
                         for d in await self.store.held_templates(tenant)
                         if d.relayed is not None and d.relayed.fingerprint)
            state = TenantState(time.monotonic(), restriction, held)
            self._tenants[tenant] = state
            return state

    def forget(self, tenant: str | None = None) -> None:
        if tenant is None:
            self._tenants.clear()
        else:
            self._tenants.pop(tenant, None)


_STATES: dict[int, LearnedState] = {}


def learned_state(store: Store) -> LearnedState:
    """The one ``LearnedState`` of ``store`` in this process."""
    state = _STATES.get(id(store))
    if state is None or state.store is not store:
        state = _STATES[id(store)] = LearnedState(store)
    return state
