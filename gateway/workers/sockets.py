"""The SMTP listening sockets the supervisor binds and its workers inherit."""

from __future__ import annotations

import socket
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from gateway.config import GatewayConfig

# The listeners a worker serves (the admin port is the supervisor's).
WORKER_LISTENERS = ("server.listen", "server.implicit_tls_listen", "bounces.listen")
BACKLOG = 100  # asyncio's create_server default


def bind(host: str, port: int, *, reuse_port: bool = False) -> list[socket.socket]:
    """Listening sockets for every address ``host`` resolves to, as asyncio's create_server makes
    them (SO_REUSEADDR, IPv6-only v6 sockets), non-blocking and inheritable. Port 0: the first
    address picks a free port and the others take the same one."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    seen: set[Any] = set()
    socks: list[socket.socket] = []
    try:
        for family, type_, proto, _name, address in infos:
            if address in seen:
                continue
            seen.add(address)
            sock = socket.socket(family, type_, proto)
            socks.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if port == 0 and len(socks) > 1:
                address = (address[0], socks[0].getsockname()[1], *address[2:])
            try:
                sock.bind(address)
            except OSError as exc:
                # Worded as asyncio words it, which gateway serve's refusal maps to the key.
                raise OSError(exc.errno, f"error while attempting to bind on address {address!r}: "
                                         f"{(exc.strerror or str(exc)).lower()}") from None
            sock.listen(BACKLOG)
            sock.setblocking(False)
            sock.set_inheritable(True)
    except BaseException:
        for sock in socks:
            sock.close()
        raise
    return socks


def bind_listeners(config: GatewayConfig) -> dict[str, list[socket.socket]]:
    """Every SMTP listener of ``config``, bound: listener key -> its sockets."""
    out: dict[str, list[socket.socket]] = {}
    try:
        for key, (host, port) in config.listeners():
            if key in WORKER_LISTENERS:
                out[key] = bind(host, port, reuse_port=config.server.reuse_port)
    except BaseException:
        close_sockets(out)
        raise
    return out


def close_sockets(sockets: Mapping[str, Iterable[socket.socket]]) -> None:
    for socks in sockets.values():
        for sock in socks:
            sock.close()


def bound_port(sockets: Mapping[str, Sequence[socket.socket]], key: str = "server.listen") -> int | None:
    socks = sockets.get(key)
    if not socks:
        return None
    port: int = socks[0].getsockname()[1]
    return port


def parse_listen(values: Sequence[str]) -> dict[str, list[socket.socket]]:
    """``--listen KEY=FD,FD`` arguments: the inherited sockets."""
    out: dict[str, list[socket.socket]] = {}
    for value in values:
        key, _, fds = value.partition("=")
        out[key] = [socket.socket(fileno=int(fd)) for fd in fds.split(",") if fd]
    return out
