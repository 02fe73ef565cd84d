"""The evaluation processes themselves: the zygote that has the engines loaded, the workers forked
from it, and the frames they exchange with the gateway (gateway/evaluation/__init__.py explains
the model)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

JOBS_PER_WORKER = 10_000
BYTES_PER_WORKER = 64 * 1024 * 1024
ENGINES_PER_WORKER = 4
# What a job brings besides the engine: recipients, verdicts, the SQLite state view.
_PRELOAD = ("gateway.classify", "gateway.policy.verdict", "gateway.store.sqlite.portable")
_HEAD = struct.Struct(">I")


def _frame(message: Any) -> bytes:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEAD.pack(len(body)) + body


def _read_exact(fd: int, n: int) -> bytes:
    """``n`` bytes from a blocking descriptor; EOFError when it ends first."""
    parts, got = [], 0
    while got < n:
        chunk = os.read(fd, n - got)
        if not chunk:
            raise EOFError("pipe closed")
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def _read_frame(fd: int) -> Any:
    (size,) = _HEAD.unpack(_read_exact(fd, _HEAD.size))
    return pickle.loads(_read_exact(fd, size))


def _write_frame(fd: int, message: Any) -> None:
    data = memoryview(_frame(message))
    while data:
        data = data[os.write(fd, data):]


class Worker:
    """One forked worker process, as this process holds it: its pid and the two pipe ends."""

    def __init__(self, pid: int, to_fd: int, from_fd: int, known: set[str]) -> None:
        self.pid = pid
        self.to_fd = to_fd
        self.from_fd = from_fd
        self.known = known  # engine keys it has loaded
        self.pidfd = -1
        with contextlib.suppress(AttributeError, OSError):
            self.pidfd = os.pidfd_open(pid)  # signals reach this process even if its pid is reused
        self.buffer = bytearray()
        self.jobs = 0
        self.bytes = 0
        self.last_used = time.monotonic()
        self.closed = False

    def usable(self) -> bool:
        return not self.closed and self.jobs < JOBS_PER_WORKER and self.bytes < BYTES_PER_WORKER

    def load(self, key: str, blob: bytes) -> None:
        """Blocking (before the worker is handed to a coroutine): load an engine it lacks."""
        _write_frame(self.to_fd, ("policy", key, blob))
        answer = _read_frame(self.from_fd)
        if answer[0] != "loaded":
            raise RuntimeError(f"policy worker could not load the engine: {answer[1]!r}")
        self.known.add(key)

    async def send(self, message: Any) -> None:
        data = memoryview(_frame(message))
        while data:
            with contextlib.suppress(BlockingIOError):
                data = data[os.write(self.to_fd, data):]
            if data:
                await _fd_ready(self.to_fd, write=True)

    async def receive(self) -> Any:
        buffer = self.buffer
        while True:
            if len(buffer) >= _HEAD.size:
                (size,) = _HEAD.unpack_from(buffer)
                if len(buffer) >= _HEAD.size + size:
                    body = bytes(buffer[_HEAD.size:_HEAD.size + size])
                    del buffer[:_HEAD.size + size]
                    return pickle.loads(body)
            await _fd_ready(self.from_fd, write=False)
            try:
                chunk = os.read(self.from_fd, 1 << 16)
            except BlockingIOError:
                continue
            if not chunk:
                raise EOFError(f"policy worker {self.pid} closed its pipe")
            buffer += chunk

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            if self.pidfd >= 0:
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            else:
                os.kill(self.pid, signal.SIGKILL)

    def close(self, kill: bool = True) -> None:
        """Ends the worker: an idle one exits on its pipe's end; a busy one is killed."""
        if self.closed:
            return
        self.closed = True
        if kill:
            self.kill()
        for fd in (self.to_fd, self.from_fd, self.pidfd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)


async def _fd_ready(fd: int, *, write: bool) -> None:
    """Until ``fd`` is readable (or writable), on the running loop's selector."""
    loop = asyncio.get_running_loop()
    ready = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    if write:
        loop.add_writer(fd, wake)
    else:
        loop.add_reader(fd, wake)
    try:
        await ready
    finally:
        if write:
            loop.remove_writer(fd)
        else:
            loop.remove_reader(fd)


class Zygote:
    """The process workers are forked from: it has the engines loaded, so a fork is all a worker costs."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        # This process's import path, so the zygote can unpickle whatever an engine refers to.
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self.proc = subprocess.Popen([sys.executable, "-m", "gateway.evaluation", "--zygote", str(theirs.fileno())],
                                     env=env, stdin=subprocess.DEVNULL, pass_fds=(theirs.fileno(),))
        theirs.close()
        self.sock = ours
        self.known: list[str] = []  # engine keys, oldest first (the zygote keeps the last few)
        self.lock = threading.Lock()

    def _ask(self, message: Any, fds: Sequence[int] = ()) -> Any:
        data = _frame(message)
        if fds:
            socket.send_fds(self.sock, [data], list(fds))
        else:
            self.sock.sendall(data)
        fd = self.sock.fileno()
        return _read_frame(fd)

    def spawn(self, key: str, blob: bytes) -> Worker:
        """A new worker with the engine ``key`` loaded (blocking: called from a pool thread)."""
        with self.lock:
            if key not in self.known:
                answer = self._ask(("policy", key, blob))
                if answer[0] != "loaded":
                    raise RuntimeError(f"policy zygote could not load the engine: {answer[1]!r}")
                self.known.append(key)
                del self.known[:-ENGINES_PER_WORKER]
            job_r, job_w = os.pipe()
            out_r, out_w = os.pipe()
            try:
                answer = self._ask(("spawn",), (job_r, out_w))
            except BaseException:
                for fd in (job_w, out_r):
                    os.close(fd)
                raise
            finally:
                os.close(job_r)
                os.close(out_w)
            known = set(self.known)
        os.set_blocking(job_w, False)
        os.set_blocking(out_r, False)
        return Worker(int(answer[1]), job_w, out_r, known)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        if self.proc.poll() is None:
            self.proc.kill()


def portable_exception(exc: BaseException) -> BaseException:
    try:
        pickle.dumps(exc)
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


# -- the zygote and its workers ---------------------------------------------------------------------


class _StateProxy:
    """The parent's policy-state view for one evaluation: the recipients' alias statuses came with
    the message; any other question is one round trip, and each answer is kept (state does not
    change under one evaluation as far as its verdict is concerned; the store's reservations
    decide races)."""

    def __init__(self, inp: int, out: int, aliases: dict[str, Any] | None = None) -> None:
        self._inp = inp
        self._out = out
        self._aliases = aliases or {}
        self._answers: dict[tuple[str, tuple[Any, ...]], Any] = {}

    def alias_status(self, alias: str) -> Any:
        key = alias.lower()
        if key in self._aliases:
            return self._aliases[key]
        return self.__getattr__("alias_status")(alias)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)

        def call(*args: Any) -> Any:
            asked = (name, args)
            if asked in self._answers:
                return self._answers[asked]
            _write_frame(self._out, ("call", name, args))
            reply = _read_frame(self._inp)
            if reply[0] == "return":
                self._answers[asked] = reply[1]
                return reply[1]
            raise reply[1]

        return call


def _load_engine(engines: dict[str, Any], key: str, blob: bytes) -> tuple[Any, ...]:
    if len(engines) >= ENGINES_PER_WORKER:
        engines.pop(next(iter(engines)))
    try:
        engines[key] = pickle.loads(blob)
    except Exception as exc:
        return ("raised", portable_exception(exc))
    # The engine's objects live as long as the process: the collector need not scan them again
    # (and a forked worker's pages stay shared with the zygote's).
    gc.collect()
    gc.freeze()
    return ("loaded",)


def _serve(inp: int, out: int, engines: dict[str, Any]) -> None:
    """A worker: evaluate each job from ``inp``, answer on ``out``, until the pipe closes."""
    while True:
        try:
            message = _read_frame(inp)
        except EOFError:
            return  # the gateway closed the pipe (or died)
        if message[0] == "policy":
            _write_frame(out, _load_engine(engines, message[1], message[2]))
            continue
        _, key, raw, recipients, has_state, known, portable = message
        state = portable if portable is not None else (_StateProxy(inp, out, known) if has_state else None)
        try:
            reply: tuple[Any, ...] = ("verdict", engines[key].evaluate(raw, recipients, state))
        except Exception as exc:
            reply = ("raised", portable_exception(exc))
        _write_frame(out, reply)


def _reap_children(signum: int, frame: object) -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass


def zygote_main(fd: int) -> None:
    """Keep the engines loaded; fork a worker for each ``spawn`` (its pipes come with the request)."""
    os.dup2(2, 1)  # anything printed goes to stderr, never into a frame
    # Forked workers are waited for as they end, so their CPU time counts as this process's
    # children's (what /proc and the benchmarks read), and no zombie is left.
    signal.signal(signal.SIGCHLD, _reap_children)
    sock = socket.socket(fileno=fd)
    for module in _PRELOAD:  # imported once here, not by each worker at its first message
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
    engines: dict[str, Any] = {}
    while True:
        try:
            head, fds, _, _ = socket.recv_fds(sock, _HEAD.size, 2)
        except OSError:
            return
        if not head:
            return  # the gateway closed the socket (or died)
        if len(head) < _HEAD.size:
            head += _read_exact(fd, _HEAD.size - len(head))
        (size,) = _HEAD.unpack(head)
        message = pickle.loads(_read_exact(fd, size))
        if message[0] == "policy":
            reply: tuple[Any, ...] = _load_engine(engines, message[1], message[2])
        elif message[0] == "spawn" and len(fds) == 2:
            pid = os.fork()
            if pid == 0:
                try:
                    sock.close()
                    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                    _serve(fds[0], fds[1], engines)
                finally:
                    os._exit(0)
            reply = ("spawned", pid)
        else:
            reply = ("raised", RuntimeError(f"unknown request {message[0]!r}"))
        for passed in fds:
            os.close(passed)
        _write_frame(fd, reply)
