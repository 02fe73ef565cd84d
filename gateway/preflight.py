"""What ``gateway serve`` needs from its surroundings, checked before anything starts.

``gateway config check`` runs every check here (optionally as the service user), ``gateway serve``
the same ones as itself before it binds a port: a missing secret file, an unreadable credentials
file, a certificate that does not load, a rule pack folder that is not there, a state folder it
cannot write. Each problem is one ``Problem`` naming the configuration key, never a traceback.
"""

from __future__ import annotations

import json
import os
import pwd
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from gateway.bounces.wording import load_bounce_wording
from gateway.config import GatewayConfig, UpstreamConfig
from gateway.datafiles import DataFilesError, check_bounce_wording, check_packs_dir

Need = Literal["file", "dir", "writable-dir"]


@dataclass(frozen=True)
class Problem:
    key: str
    message: str
    # A warning is worth saying but does not stop serve (e.g. a state folder systemd will create).
    warning: bool = False

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


@dataclass(frozen=True)
class PathNeed:
    key: str
    path: Path
    need: Need


def path_needs(config: GatewayConfig) -> list[PathNeed]:
    """Every file and folder serve opens, with the key that names it."""
    needs: list[PathNeed] = []

    def add(key: str, path: Path | None, need: Need = "file") -> None:
        if path is not None:
            needs.append(PathNeed(key, path, need))

    add("tls.cert_file", config.tls.cert_file)
    add("tls.key_file", config.tls.key_file)
    add("auth.credentials_file", config.auth.credentials_file)
    if config.admin.listen_address is not None:
        add("admin.token_file", config.admin.token_file)
        add("admin.credentials_file", config.admin.credentials_file)
    _upstream_needs(add, "upstream", config.upstream)
    add("policy.packs_dir", config.policy.packs_dir, "dir")
    add("policy.local_packs_dir", config.policy.local_packs_dir, "dir")
    add("bounces.wording_dir", config.bounces.wording_dir, "dir")
    for i, mailbox in enumerate(config.bounces.imap):
        add(f"bounces.imap[{i}].password_file", mailbox.password_file)
        add(f"bounces.imap[{i}].ca_file", mailbox.ca_file)
    for i, tenant in enumerate(config.tenants):
        if tenant.upstream is not None:
            _upstream_needs(add, f"tenants[{i}].upstream", tenant.upstream)
        add(f"tenants[{i}].policy.local_packs_dir", tenant.policy.local_packs_dir, "dir")
    for i, key in enumerate(config.dkim.keys):
        add(f"dkim.keys[{i}].key_file", key.key_file)
    add("state.directory", config.state.directory, "writable-dir")
    if config.upstream.host is None and config.upstream.maildir is not None:
        add("upstream.maildir", config.upstream.maildir, "writable-dir")  # else inside the state folder
    return needs


def _upstream_needs(add: Callable[[str, Path | None], None], prefix: str, upstream: UpstreamConfig) -> None:
    add(f"{prefix}.password_file", upstream.password_file)
    add(f"{prefix}.ca_file", upstream.ca_file)


def probe(needs: list[PathNeed]) -> list[Problem]:
    """Open each file and list each folder as the current user would."""
    problems: list[Problem] = []
    for item in needs:
        path = item.path
        try:
            if item.need == "file":
                with path.open("rb"):
                    pass
            elif item.need == "dir":
                if not path.is_dir():
                    raise FileNotFoundError(2, "no such folder", str(path))
                os.listdir(path)
            else:
                problem = _writable(item)
                if problem is not None:
                    problems.append(problem)
        except OSError as exc:
            what = "folder" if item.need != "file" else "file"
            reason = "does not exist" if isinstance(exc, FileNotFoundError) else f"cannot be read ({exc.strerror})"
            problems.append(Problem(item.key, f"{what} {path} {reason}"))
    return problems


def _writable(item: PathNeed) -> Problem | None:
    path = item.path
    if path.exists():
        if not path.is_dir():
            return Problem(item.key, f"{path} is not a folder")
        if not os.access(path, os.W_OK | os.X_OK):
            return Problem(item.key, f"folder {path} is not writable")
        return None
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if os.access(parent, os.W_OK | os.X_OK):
        return None
    # Under systemd, StateDirectory= creates it before the gateway starts: worth a word only.
    return Problem(item.key, f"folder {path} does not exist and {parent} is not writable to create it "
                             f"(fine if systemd's StateDirectory= creates it)", warning=True)


def probe_as(user: str, needs: list[PathNeed]) -> list[Problem]:
    """``probe`` in a child process running as ``user`` (with its groups): needs root."""
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return [Problem("--as-user", f"no such user: {user}")]
    if os.geteuid() != 0 and entry.pw_uid != os.geteuid():
        return [Problem("--as-user", f"checking as {user} needs root (run config check with sudo)")]
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: become the user, probe, report as JSON, exit without cleanup
        code = 0
        try:
            os.close(read_fd)
            os.setgroups(os.getgrouplist(user, entry.pw_gid))
            os.setgid(entry.pw_gid)
            os.setuid(entry.pw_uid)
            found = [[p.key, p.message, p.warning] for p in probe(needs)]
            with os.fdopen(write_fd, "w") as out:
                json.dump(found, out)
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd) as inp:
        text = inp.read()
    _, status = os.waitpid(pid, 0)
    if status != 0 or not text:
        return [Problem("--as-user", f"could not check as {user}")]
    return [Problem(k, f"as {user}: {m}", bool(w)) for k, m, w in json.loads(text)]


def check_tls(config: GatewayConfig) -> list[Problem]:
    tls = config.tls
    if tls.cert_file is None or tls.key_file is None:
        return []
    if not (tls.cert_file.is_file() and tls.key_file.is_file()):
        return []  # said by the path checks
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(tls.cert_file, tls.key_file)
    except (ssl.SSLError, OSError, ValueError) as exc:
        return [Problem("tls.cert_file", f"{tls.cert_file} with {tls.key_file} does not load: {exc}")]
    return []


def check_secrets(config: GatewayConfig) -> list[Problem]:
    """Files that exist but hold nothing usable."""
    from gateway.auth import Credentials, CredentialsError

    problems: list[Problem] = []
    for key, path in (("auth.credentials_file", config.auth.credentials_file),
                      ("admin.credentials_file", config.admin.credentials_file)):
        if path is not None and path.is_file() and os.access(path, os.R_OK):
            try:
                Credentials.load(path)
            except CredentialsError as exc:
                problems.append(Problem(key, str(exc)))
    for key, path in _secret_files(config):
        if path.is_file() and os.access(path, os.R_OK):
            try:
                empty = not path.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                problems.append(Problem(key, f"{path} cannot be read as text: {exc}"))
                continue
            if empty:
                problems.append(Problem(key, f"{path} is empty"))
    return problems


def check_dkim(config: GatewayConfig) -> list[Problem]:
    """Each signing key loads (an RSA key in unencrypted PEM), once its file can be read."""
    from gateway.signing import DkimError, load_key

    problems: list[Problem] = []
    for i, key in enumerate(config.dkim.keys):
        if key.key_file.is_file() and os.access(key.key_file, os.R_OK):
            try:
                load_key(key.domain, key.selector, key.key_file)
            except DkimError as exc:
                problems.append(Problem(f"dkim.keys[{i}].key_file", str(exc)))
    return problems


def _secret_files(config: GatewayConfig) -> list[tuple[str, Path]]:
    out: list[tuple[str, Path]] = []
    if config.admin.listen_address is not None and config.admin.token_file is not None:
        out.append(("admin.token_file", config.admin.token_file))
    if config.upstream.password_file is not None:
        out.append(("upstream.password_file", config.upstream.password_file))
    for i, mailbox in enumerate(config.bounces.imap):
        if mailbox.password_file is not None:
            out.append((f"bounces.imap[{i}].password_file", mailbox.password_file))
    for i, tenant in enumerate(config.tenants):
        if tenant.upstream is not None and tenant.upstream.password_file is not None:
            out.append((f"tenants[{i}].upstream.password_file", tenant.upstream.password_file))
    return out


def check_data(config: GatewayConfig, *, load: bool) -> list[Problem]:
    """The rule packs and the bounce wording: there, and (with ``load``) readable as rules."""
    problems: list[Problem] = []
    packs_key = "policy.packs_dir"
    if config.policy.enabled:
        try:
            check_packs_dir(config.policy.packs_dir)
        except DataFilesError as exc:
            problems.append(Problem(packs_key, str(exc)))
    try:
        if load:
            load_bounce_wording(config.bounces.wording_dir)
        else:
            check_bounce_wording(config.bounces.wording_dir)
    except DataFilesError as exc:
        problems.append(Problem("bounces.wording_dir", str(exc)))
    if load and not problems:
        problems.extend(check_policies(config))
    return problems


def check_policies(config: GatewayConfig) -> list[Problem]:
    """Load every tenant's rule packs as serve would."""
    from gateway.app import policy_loader
    from gateway.policy.loader import PolicyLoadError
    from gateway.tenants import TenantDirectory

    try:
        TenantDirectory(config, policy_loader(config))
    except PolicyLoadError as exc:
        return [Problem(policy_key(config, exc.file), str(exc))]
    return []


def policy_key(config: GatewayConfig, file: str) -> str:
    """Which setting points at the pack file that failed."""
    for i, tenant in enumerate(config.tenants):
        local = tenant.policy.local_packs_dir
        if local is not None and file.startswith(str(local)):
            return f"tenants[{i}].policy.local_packs_dir"
    local = config.policy.local_packs_dir
    if local is not None and file.startswith(str(local)):
        return "policy.local_packs_dir"
    return "policy.packs_dir"


_DATA_KEYS = frozenset(("policy.packs_dir", "policy.local_packs_dir", "bounces.wording_dir"))


def check(config: GatewayConfig, *, as_user: str | None = None, load: bool = True) -> list[Problem]:
    """Everything serve would fail on. ``load`` also loads rule packs and bounce wording (slower)."""
    needs = path_needs(config)
    problems = probe(needs)
    if as_user is not None:
        problems += probe_as(as_user, needs)
    problems += check_tls(config)
    problems += check_secrets(config)
    problems += check_dkim(config)
    # The data folders' own checks say more than "missing" once they exist; one line per key.
    said = {p.key for p in problems}
    problems += [p for p in check_data(config, load=load and not said & _DATA_KEYS) if p.key not in said]
    # One line per key and message: the same folder may be needed twice (state and outbox).
    unique: dict[str, Problem] = {}
    for problem in problems:
        unique.setdefault(str(problem), problem)
    return list(unique.values())
