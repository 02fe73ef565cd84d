"""A raw SMTP client for tests that need to send what a well-behaved library refuses to send."""

from __future__ import annotations

import asyncio
import contextlib
import ssl


class RawSMTP:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int, host: str = "127.0.0.1", *, prefix: bytes = b"",
                      tls: ssl.SSLContext | None = None) -> tuple[RawSMTP, tuple[int, str]]:
        reader, writer = await asyncio.open_connection(host, port, ssl=tls)
        if prefix:
            writer.write(prefix)
            await writer.drain()
        client = cls(reader, writer)
        greeting = await client.read_reply()
        return client, greeting

    async def read_reply(self, timeout: float = 10.0) -> tuple[int, str]:
        lines: list[str] = []
        async with asyncio.timeout(timeout):
            while True:
                raw = await self.reader.readline()
                if not raw:
                    return (0 if not lines else int(lines[-1][:3])), "\n".join(lines)
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                lines.append(line)
                if len(line) < 4 or line[3] != "-":
                    return int(line[:3]), "\n".join(lines)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def cmd(self, line: str | bytes, timeout: float = 10.0) -> tuple[int, str]:
        raw = line.encode("utf-8") if isinstance(line, str) else line
        await self.send(raw + b"\r\n")
        return await self.read_reply(timeout)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await self.writer.wait_closed()
