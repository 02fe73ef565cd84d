"""What every section shares: the error type, the strict base model, and the value checks used by
several sections (HOST:PORT addresses, networks)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from gateway.errors import GatewayError

PositiveInt = Annotated[int, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0)]


class ConfigError(GatewayError):
    """The configuration cannot be used; ``errors`` holds one readable line per problem."""

    def __init__(self, source: str, errors: list[str]) -> None:
        self.source = source
        self.errors = errors
        super().__init__(f"{source}: " + "; ".join(errors))


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def parse_hostport(value: str, what: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"{what} must be HOST:PORT, got {value!r}")
    host = host.strip("[]")
    if not host:
        raise ValueError(f"{what} needs a host, got {value!r}")
    number = int(port)
    if not 0 <= number <= 65535:
        raise ValueError(f"port out of range in {value!r}")
    return host, number


def validate_networks(cls: type, value: tuple[str, ...]) -> tuple[str, ...]:
    for item in value:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError as exc:
            raise ValueError(f"not a network: {item!r} ({exc})") from None
    return value


def optional_hostport(what: str) -> Callable[[type, str | None], str | None]:
    """A field check: None, or a HOST:PORT address (``what`` names the key in the error)."""
    def check(cls: type, value: str | None) -> str | None:
        if value is not None:
            parse_hostport(value, what)
        return value
    return check
