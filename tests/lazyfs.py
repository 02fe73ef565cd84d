"""A pass-through FUSE file system that loses every write not fsync'd: a power cut on demand.

In the spirit of Jepsen's LazyFS: file contents written through the mount are held in this
process's memory (per inode, in 4 KiB pages) and reach the backing directory only when the file is
fsync'd (or fdatasync'd). Reads see the held data, as a page cache would. Killing this process
(SIGKILL) is the power cut: everything not fsync'd is gone, and mounting the backing directory
again shows what a disk would have kept.

Simplifications: metadata (create, rename, unlink, mkdir) is applied to the backing directory at
once, as on a file system that journals metadata synchronously; only file data is lazy. Run as

    python tests/lazyfs.py BACKING_DIR MOUNTPOINT

(foreground; unmount with ``fusermount3 -u -z MOUNTPOINT`` after killing it).
"""

from __future__ import annotations

import errno
import os
import sys
from dataclasses import dataclass, field
from typing import Any

import mfusepy as fuse

PAGE = 4096


@dataclass
class _Held:
    """A file's contents as written but not yet fsync'd."""

    size: int
    pages: dict[int, bytearray] = field(default_factory=dict)


class LazyFS(fuse.Operations):
    use_ns = True

    def __init__(self, backing: str) -> None:
        self.backing = os.path.realpath(backing)
        self.held: dict[int, _Held] = {}

    # -- helpers ---------------------------------------------------------------------------------
    def _path(self, path: str) -> str:
        return os.path.join(self.backing, path.lstrip("/"))

    def _held_for(self, fd: int) -> _Held:
        st = os.fstat(fd)
        held = self.held.get(st.st_ino)
        if held is None:
            held = self.held[st.st_ino] = _Held(size=st.st_size)
        return held

    def _page(self, held: _Held, fd: int, index: int) -> bytearray:
        page = held.pages.get(index)
        if page is None:
            data = os.pread(fd, PAGE, index * PAGE)
            page = bytearray(data.ljust(PAGE, b"\0"))
            # Beyond the held size nothing was written: zeros, whatever the backing file says.
            end = held.size - index * PAGE
            if end < PAGE:
                page[max(0, end):] = b"\0" * (PAGE - max(0, end))
            held.pages[index] = page
        return page

    # -- metadata --------------------------------------------------------------------------------
    def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
        try:
            st = os.lstat(self._path(path))
        except OSError as exc:
            raise fuse.FuseOSError(exc.errno) from None
        attrs = {key: getattr(st, key) for key in (
            "st_mode", "st_nlink", "st_uid", "st_gid", "st_size", "st_ino",
            "st_atime_ns", "st_mtime_ns", "st_ctime_ns", "st_blocks")}
        attrs["st_atime"], attrs["st_mtime"], attrs["st_ctime"] = (
            st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns)
        held = self.held.get(st.st_ino)
        if held is not None:
            attrs["st_size"] = held.size
        return attrs

    def readdir(self, path: str, fh: int) -> list[str]:
        return [".", "..", *os.listdir(self._path(path))]

    def access(self, path: str, amode: int) -> int:
        if not os.access(self._path(path), amode):
            raise fuse.FuseOSError(errno.EACCES)
        return 0

    def mkdir(self, path: str, mode: int) -> int:
        os.mkdir(self._path(path), mode)
        return 0

    def rmdir(self, path: str) -> int:
        os.rmdir(self._path(path))
        return 0

    def unlink(self, path: str) -> int:
        target = self._path(path)
        st = os.lstat(target)
        os.unlink(target)
        if st.st_nlink <= 1:
            self.held.pop(st.st_ino, None)
        return 0

    def rename(self, old: str, new: str) -> int:
        try:
            gone = os.lstat(self._path(new)).st_ino
        except FileNotFoundError:
            gone = None
        os.rename(self._path(old), self._path(new))
        if gone is not None:
            self.held.pop(gone, None)
        return 0

    def chmod(self, path: str, mode: int) -> int:
        os.chmod(self._path(path), mode)
        return 0

    def chown(self, path: str, uid: int, gid: int) -> int:
        os.chown(self._path(path), uid, gid)
        return 0

    def utimens(self, path: str, times: tuple[int, int] | None = None) -> int:
        if times is None:
            os.utime(self._path(path))
        else:
            os.utime(self._path(path), ns=times)
        return 0

    def statfs(self, path: str) -> dict[str, int]:
        st = os.statvfs(self._path(path))
        return {key: getattr(st, key) for key in (
            "f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail", "f_ffree", "f_files",
            "f_flag", "f_frsize", "f_namemax")}

    # -- files -----------------------------------------------------------------------------------
    def open(self, path: str, flags: int) -> int:
        # Always read-write underneath: held pages are filled from, and fsync'd to, this fd.
        fd = os.open(self._path(path), (flags & ~(os.O_ACCMODE | os.O_TRUNC | os.O_APPEND | os.O_CREAT
                                                  | os.O_EXCL)) | os.O_RDWR)
        if flags & os.O_TRUNC:
            self._truncate(fd, 0)
        return fd

    def create(self, path: str, mode: int, fi: Any = None) -> int:
        return os.open(self._path(path), os.O_RDWR | os.O_CREAT | os.O_TRUNC, mode)

    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        held = self.held.get(os.fstat(fh).st_ino)
        if held is None:
            return os.pread(fh, size, offset)
        end = min(offset + size, held.size)
        out = bytearray()
        pos = offset
        while pos < end:
            index, within = divmod(pos, PAGE)
            take = min(PAGE - within, end - pos)
            out += self._page(held, fh, index)[within:within + take]
            pos += take
        return bytes(out)

    def write(self, path: str, data: bytes, offset: int, fh: int) -> int:
        held = self._held_for(fh)
        pos, done = offset, 0
        while done < len(data):
            index, within = divmod(pos, PAGE)
            take = min(PAGE - within, len(data) - done)
            self._page(held, fh, index)[within:within + take] = data[done:done + take]
            pos += take
            done += take
        held.size = max(held.size, offset + len(data))
        return len(data)

    def _truncate(self, fd: int, length: int) -> None:
        held = self._held_for(fd)
        for index in [i for i in held.pages if i * PAGE >= length]:
            del held.pages[index]
        last, within = divmod(length, PAGE)
        if within and last in held.pages:
            held.pages[last][within:] = b"\0" * (PAGE - within)
        elif within and length < held.size:
            self._page(held, fd, last)[within:] = b"\0" * (PAGE - within)
        held.size = length

    def truncate(self, path: str, length: int, fh: int | None = None) -> int:
        if fh is not None:
            self._truncate(fh, length)
            return 0
        fd = os.open(self._path(path), os.O_RDWR)
        try:
            self._truncate(fd, length)
        finally:
            os.close(fd)
        return 0

    def fsync(self, path: str, datasync: int, fh: int) -> int:
        held = self.held.pop(os.fstat(fh).st_ino, None)
        if held is not None:
            for index, page in sorted(held.pages.items()):
                start = index * PAGE
                if start < held.size:
                    os.pwrite(fh, bytes(page[:held.size - start]), start)
            os.ftruncate(fh, held.size)
        os.fsync(fh)
        return 0

    def fsyncdir(self, path: str, datasync: int, fh: int) -> int:
        fd = os.open(self._path(path), os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return 0

    def flush(self, path: str, fh: int) -> int:
        return 0  # close() is not fsync(): held data stays held

    def release(self, path: str, fh: int) -> int:
        os.close(fh)
        return 0


def main() -> None:
    backing, mountpoint = sys.argv[1], sys.argv[2]
    fuse.FUSE(LazyFS(backing), mountpoint, foreground=True, nothreads=True, fsname="lazyfs")


if __name__ == "__main__":
    main()
