"""The registry of built-in checks: a check is a function of the context and its parameters that
returns evidence (a short string) when it hits, None otherwise."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.policy.context import Context

# --------------------------------------------------------------------------------------------------
# Built-in checks: each returns evidence (a short string) when it hits, None otherwise.

CheckFn = Callable[[Context, Mapping[str, Any]], str | None]


@dataclass(frozen=True, slots=True)
class Check:
    fn: CheckFn
    defaults: Mapping[str, Any]
    description: str


CHECKS: dict[str, Check] = {}


def check(name: str, description: str, **defaults: Any) -> Callable[[CheckFn], CheckFn]:
    def register(fn: CheckFn) -> CheckFn:
        CHECKS[name] = Check(fn=fn, defaults=defaults, description=description)
        return fn
    return register
