"""`gateway auth add-user|remove-user --file FILE USER`: maintain the credentials file.

The file holds ``user:$argon2id$...`` lines (SMTP AUTH users; admin.users names those who may also
log in to the review pages). It is rewritten atomically and created 0600; an existing file keeps
its mode and owner, so a ``root:smgw 0640`` file stays readable to the service.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path
from typing import Any

from gateway.auth import Credentials, CredentialsError, hash_password


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("auth", help="manage the SMTP/admin credentials file")
    asub = parser.add_subparsers(dest="auth_command", metavar="ACTION", required=True)
    add = asub.add_parser("add-user", help="add a user or set a user's password")
    add.add_argument("--file", type=Path, required=True, help="the credentials file (auth.credentials_file)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.add_argument("user")
    add.set_defaults(func=add_user)
    rm = asub.add_parser("remove-user", help="remove a user")
    rm.add_argument("--file", type=Path, required=True)
    rm.add_argument("user")
    rm.set_defaults(func=remove_user)


def _valid_user(user: str) -> bool:
    return bool(user) and ":" not in user and not user.startswith("#") and user.isprintable() and user.strip() == user


def _lines(path: Path) -> list[str]:
    if not path.exists():
        return []
    Credentials.load(path)  # refuse to rewrite a file we cannot parse
    return path.read_text(encoding="utf-8").splitlines()


def _write(path: Path, lines: list[str]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    if path.exists():
        st = path.stat()
        os.chmod(tmp, st.st_mode & 0o777)
        os.chown(tmp, st.st_uid, st.st_gid)
    os.replace(tmp, path)


def add_user(args: argparse.Namespace) -> int:
    if not _valid_user(args.user):
        print(f"gateway: not a usable user name: {args.user!r}", file=sys.stderr)
        return 2
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass(f"Password for {args.user}: ")
        if getpass.getpass("Again: ") != password:
            print("gateway: the passwords differ", file=sys.stderr)
            return 1
    if len(password) < 8:
        print("gateway: a password needs at least 8 characters", file=sys.stderr)
        return 1
    try:
        lines = _lines(args.file)
    except CredentialsError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 1
    entry = f"{args.user}:{hash_password(password)}"
    replaced = False
    for i, line in enumerate(lines):
        if line.split(":", 1)[0].strip() == args.user:
            lines[i], replaced = entry, True
    if not replaced:
        lines.append(entry)
    _write(args.file, lines)
    print(f"{'updated' if replaced else 'added'} {args.user} in {args.file}")
    return 0


def remove_user(args: argparse.Namespace) -> int:
    try:
        lines = _lines(args.file)
    except CredentialsError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 1
    kept = [line for line in lines if line.split(":", 1)[0].strip() != args.user]
    if len(kept) == len(lines):
        print(f"gateway: no user {args.user} in {args.file}", file=sys.stderr)
        return 1
    _write(args.file, kept)
    print(f"removed {args.user} from {args.file}")
    return 0
