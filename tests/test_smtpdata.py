"""gateway/smtpdata.py: the DATA reader on a real asyncio StreamReader."""

from __future__ import annotations

import asyncio

import pytest

from gateway.smtpdata import MAX_LINE, BareLineEndings, MessageData, break_long_lines, read_data


async def read(wire: bytes, *, max_size: int | None = 10_000,
               mode: BareLineEndings = "normalize", limit: int = 1001) -> tuple[MessageData, bytes]:
    """What read_data makes of ``wire``, and what is left in the stream after it (the next command)."""
    reader = asyncio.StreamReader(limit=limit)
    reader.feed_data(wire)
    reader.feed_eof()
    result = await read_data(reader, max_size=max_size, bare_line_endings=mode)
    return result, await reader.read()


async def test_dot_unstuffing_and_end_of_data() -> None:
    result, rest = await read(b"Subject: x\r\n\r\n..leading dot\r\n.\r\nQUIT\r\n")
    assert result.data == b"Subject: x\r\n\r\n.leading dot\r\n"
    assert rest == b"QUIT\r\n"


async def test_dot_stuffing_does_not_count_toward_the_size_limit() -> None:
    # 100 lines of "." + 8 octets + CRLF: 1100 octets on the wire, 1000 as stored.
    wire = b"..1234567\r\n" * 100 + b".\r\n"
    result, _ = await read(wire, max_size=1000)
    assert result.refusal is None and result.data is not None and len(result.data) == 1000
    result, _ = await read(wire, max_size=999)
    assert result.data is None and result.refusal is not None and result.refusal.startswith("552 5.3.4")


@pytest.mark.parametrize("wire", [b"a\n.\nb\r\n.\r\n", b"a\r\n.\nb\r\n.\r\n", b"a\n.\r\nb\r\n.\r\n",
                                  b"a\r.\r\nb\r\n.\r\n", b"a\r\r\n.\r\r\nb\r\n.\r\n"])
async def test_only_crlf_dot_crlf_ends_data(wire: bytes) -> None:
    result, rest = await read(wire)
    assert rest == b""
    assert result.data is not None and result.data.endswith(b"b\r\n")
    assert b"\r\n.\r\n" not in b"\r\n" + result.data
    result, rest = await read(wire, mode="reject")
    assert rest == b"" and result.data is None
    assert result.refusal is not None and result.refusal.startswith("550 5.6.0")


async def test_bare_lf_is_a_line_end_and_crs_before_it_go() -> None:
    result, _ = await read(b"Subject: x\n\nbody\r\r\nmore\rend\r\n.\r\n")
    assert result.data == b"Subject: x\r\n\r\nbody\r\nmore\r\nend\r\n"
    assert result.bare_line_endings == 4  # two bare LFs, two bare CRs


async def test_lines_longer_than_the_stream_limit_are_read_whole_and_broken() -> None:
    line = b"y" * 5000
    result, rest = await read(b"Subject: x\r\n\r\n" + line + b"\r\n.\r\nQUIT\r\n", max_size=100_000)
    assert rest == b"QUIT\r\n"
    assert result.long_lines and result.data is not None
    lines = result.data.split(b"\r\n")
    assert max(len(x) for x in lines) == MAX_LINE
    assert b"".join(x.removeprefix(b" ") for x in lines[2:]) == line


async def test_oversized_long_line_is_drained_then_refused() -> None:
    result, rest = await read(b"x" * 50_000 + b"\r\n.\r\nNOOP\r\n", max_size=10_000)
    assert result.data is None and result.refusal is not None and "552" in result.refusal
    assert rest == b"NOOP\r\n"


async def test_connection_lost_mid_data() -> None:
    with pytest.raises(ConnectionResetError):
        await read(b"Subject: x\r\n\r\nhalf")


def test_break_long_lines_folds_headers_at_spaces() -> None:
    header = b"To: " + b", ".join(b"user%d@example.com" % i for i in range(100))
    data = header + b"\r\nSubject: s\r\n\r\nbody\r\n"
    out = break_long_lines(data)
    assert max(len(x) for x in out.split(b"\r\n")) <= MAX_LINE
    assert out.replace(b"\r\n ", b" ") == data  # unfolding gives the header back exactly
    assert break_long_lines(b"Subject: short\r\n\r\nbody\r\n") == b"Subject: short\r\n\r\nbody\r\n"


@pytest.mark.parametrize("seed", range(6))
async def test_any_split_of_the_stream_reads_the_same(seed: int) -> None:
    """The reader takes the stream in whatever pieces arrive: a final dot, a stuffed dot, a CRLF or
    an over-long line split across pieces reads the same as in one piece."""
    import random

    rnd = random.Random(seed)
    wire = (b"Subject: x\r\n\r\n..dot\r\n.\r\r\n" + b"z" * 2500 + b"\r\n.x\r\nend.\r\n"
            + b"a\n.\nb\r\n" + b"\r\n".join(b"l%d" % i for i in range(300)) + b"\r\n.\r\nQUIT\r\n")
    whole, rest = await read(wire)
    assert whole.data is not None and rest == b"QUIT\r\n"
    reader = asyncio.StreamReader(limit=1001)

    async def feed() -> None:
        pos = 0
        while pos < len(wire):
            step = rnd.choice((1, 2, 3, 5, 64, 700, 4096))
            reader.feed_data(wire[pos:pos + step])
            pos += step
            await asyncio.sleep(0)
        reader.feed_eof()

    feeding = asyncio.create_task(feed())
    pieces = await read_data(reader, max_size=10_000)
    await feeding
    assert pieces == whole
    assert await reader.read() == b"QUIT\r\n"
