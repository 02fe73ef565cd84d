"""Who may relay: client networks, trusted PROXY-protocol peers."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        addr = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


class NetworkList:
    def __init__(self, networks: Iterable[str]) -> None:
        self._networks: tuple[IPNetwork, ...] = tuple(
            ipaddress.ip_network(n, strict=False) for n in networks)

    def __contains__(self, host: object) -> bool:
        if not isinstance(host, str):
            return False
        addr = _address(host)
        if addr is None:
            return False
        return any(addr.version == net.version and addr in net for net in self._networks)

    def __bool__(self) -> bool:
        return bool(self._networks)
