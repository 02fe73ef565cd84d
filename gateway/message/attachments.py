"""Attachments: what a part is, from its content first (the name may lie), then from its name."""

from __future__ import annotations

import filetype

from gateway.message.model import Attachment, AttachmentKind

# --------------------------------------------------------------------------------------------------
# Attachments

_EXECUTABLE_MIMES = {"application/x-msdownload", "application/x-executable", "application/x-mach-binary",
                     "application/x-shockwave-flash", "application/wasm", "application/x-deb",
                     "application/x-rpm", "application/x-google-chrome-extension"}
_ARCHIVE_MIMES = {"application/zip", "application/x-tar", "application/x-rar-compressed", "application/gzip",
                  "application/x-bzip2", "application/x-7z-compressed", "application/vnd.ms-cab-compressed",
                  "application/x-xz", "application/x-unix-archive", "application/x-compress",
                  "application/x-lzop", "application/x-lzip", "application/x-lz4", "application/zstd",
                  "application/x-brotli"}
_EXECUTABLE_EXT = {"exe", "com", "scr", "pif", "msi", "msp", "dll", "cpl", "apk", "app", "dmg", "elf", "jar",
                   "lnk", "iso", "reg", "sys"}
_SCRIPT_EXT = {"js", "jse", "vbs", "vbe", "wsf", "wsh", "hta", "bat", "cmd", "ps1", "psm1", "sh", "bash",
               "py", "pl", "rb", "php", "scf", "url", "applescript", "command", "vb", "html", "htm", "svg"}
_ARCHIVE_EXT = {"zip", "rar", "7z", "gz", "tgz", "bz2", "xz", "tar", "cab", "arj", "lz", "zst", "z", "ace"}
_SCRIPT_STARTS = (b"#!", b"@echo", b"<script", b"<?php", b"<job", b"<hta:")


# The everyday attachments (invoices, photos), recognised without trying every matcher of filetype.
_FAST_MAGIC: dict[bytes, tuple[str, AttachmentKind]] = {
    b"%PDF": ("application/pdf", "pdf"),
    b"\x89PNG": ("image/png", "image"),
    b"\xff\xd8\xff\xe0": ("image/jpeg", "image"),
    b"\xff\xd8\xff\xe1": ("image/jpeg", "image"),
    b"\xff\xd8\xff\xdb": ("image/jpeg", "image"),
    b"\xff\xd8\xff\xee": ("image/jpeg", "image"),
    b"GIF8": ("image/gif", "image"),
}


def _extension(name: str) -> str:
    _, dot, ext = name.rpartition(".")
    return ext.lower().strip() if dot else ""


def _looks_like_text(data: bytes) -> bool:
    sample = data[:8192]
    if b"\x00" in sample:
        return False
    try:
        sample.decode("utf-8")
        return True
    except UnicodeDecodeError as exc:
        if exc.start >= len(sample) - 4:  # cut inside a multi-byte character
            return True
    printable = sum(1 for b in sample if b >= 0x20 or b in (9, 10, 13))
    return printable >= 0.95 * len(sample)


def classify_attachment(filename: str, declared: str, data: bytes) -> Attachment:
    """Kind from the content first (the name may lie), then from the name for scripts."""
    kind: AttachmentKind
    sniffed = ""
    ext = _extension(filename)
    head = data[:64].lstrip().lower()
    fast = _FAST_MAGIC.get(data[:4])
    try:
        guess = None if fast or not data else filetype.guess(data[:8192])
    except Exception:
        guess = None
    if fast is not None:
        sniffed, kind = fast
    elif guess is not None:
        sniffed = str(guess.mime)
        if sniffed == "application/pdf":
            kind = "pdf"
        elif sniffed.startswith("image/"):
            kind = "image"
        elif sniffed in _EXECUTABLE_MIMES:
            kind = "executable"
        elif sniffed in _ARCHIVE_MIMES:
            kind = "archive"
        else:
            kind = "other"
    elif data[:2] == b"MZ":
        sniffed, kind = "application/x-msdownload", "executable"
    elif data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" and ext in {"msi", "msp"}:
        sniffed, kind = "application/x-msi", "executable"
    elif head.startswith(_SCRIPT_STARTS):
        sniffed, kind = "text/x-script", "script"
    elif data and _looks_like_text(data):
        sniffed, kind = "text/plain", "text"
    else:
        kind = "other"
    # A harmless-looking content with a dangerous name is still dangerous on the buyer's machine.
    if kind in ("text", "other", "image", "pdf"):
        if ext in _EXECUTABLE_EXT:
            kind = "executable"
        elif ext in _SCRIPT_EXT:
            kind = "script"
        elif ext in _ARCHIVE_EXT:
            kind = "archive"
    return Attachment(filename=filename, declared_type=declared, sniffed_type=sniffed, size=len(data),
                      kind=kind)
