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


_KNOWN_HOSTS = 4096  # answers kept per list: the same few clients connect again and again


class NetworkList:
    def __init__(self, networks: Iterable[str]) -> None:
        self._networks: tuple[IPNetwork, ...] = tuple(
            ipaddress.ip_network(n, strict=False) for n in networks)
        self._answers: dict[str, bool] = {}

    def __contains__(self, host: object) -> bool:
        if not isinstance(host, str):
            return False
        answer = self._answers.get(host)
        if answer is None:
            # Parsing the address costs ~0.1 ms; asked for every connection (relay access, PROXY
            # trust, tenant by network).
            addr = _address(host)
            answer = addr is not None and any(addr.version == net.version and addr in net for net in self._networks)
            if len(self._answers) >= _KNOWN_HOSTS:
                self._answers.clear()
            self._answers[host] = answer
        return answer

    def __bool__(self) -> bool:
        return bool(self._networks)
