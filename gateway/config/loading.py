"""Reading a TOML file into a ``GatewayConfig``: paths made relative to the file, errors as readable
lines (``ConfigError``)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gateway.config.base import ConfigError
from gateway.config.file import GatewayConfig


def _format_errors(exc: ValidationError) -> list[str]:
    lines = []
    for err in exc.errors():
        key = ".".join(str(part) for part in err["loc"])
        if err["type"] == "extra_forbidden":
            lines.append(f"{key}: unknown key")
            continue
        message = str(err["ctx"]["error"]) if err["type"] == "value_error" and "ctx" in err else err["msg"]
        # A check across sections names its key itself.
        lines.append(f"{key}: {message}" if key else message)
    return lines


def config_from_mapping(data: dict[str, Any], source: str = "<config>") -> GatewayConfig:
    """Validate a parsed mapping; relative paths stay relative to the caller's choice of base."""
    try:
        return GatewayConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, _format_errors(exc)) from None


def _resolve_paths(data: dict[str, Any], base: Path) -> dict[str, Any]:
    """Paths in a config file are relative to the file's folder, as admins expect."""
    path_keys = {
        "tls": ("cert_file", "key_file"),
        "auth": ("credentials_file",),
        "state": ("directory",),
        "upstream": ("ca_file", "password_file", "maildir"),
        "policy": ("packs_dir", "local_packs_dir"),
        "admin": ("token_file", "credentials_file"),
    }
    out = _resolve_sections(data, path_keys, base)
    bounces = out.get("bounces")
    if isinstance(bounces, dict):
        # [bounces.imap] is one mailbox or, as [[bounces.imap]], several.
        mailboxes = bounces.get("imap")
        imap_keys: dict[str, tuple[str, ...]] = {"imap": ("ca_file", "password_file")}
        if isinstance(mailboxes, dict):
            bounces = _resolve_sections(bounces, imap_keys, base)
        elif isinstance(mailboxes, list):
            bounces = {**bounces, "imap": [
                _resolve_sections({"imap": m}, imap_keys, base)["imap"] if isinstance(m, dict) else m
                for m in mailboxes]}
        if isinstance(bounces, dict):
            bounces = _resolve_sections({"bounces": bounces}, {"bounces": ("wording_dir",)}, base)["bounces"]
        out["bounces"] = bounces
    tenants = out.get("tenants")
    if isinstance(tenants, list):
        tenant_keys = {"upstream": path_keys["upstream"], "policy": ("local_packs_dir",)}
        out["tenants"] = [_resolve_sections(t, tenant_keys, base) if isinstance(t, dict) else t
                          for t in tenants]
    dkim = out.get("dkim")
    if isinstance(dkim, dict) and isinstance(dkim.get("keys"), list):
        out["dkim"] = {**dkim, "keys": [
            _resolve_sections({"key": k}, {"key": ("key_file",)}, base)["key"] if isinstance(k, dict) else k
            for k in dkim["keys"]]}
    return out


def _resolve_sections(data: dict[str, Any], path_keys: dict[str, tuple[str, ...]],
                      base: Path) -> dict[str, Any]:
    out = dict(data)
    for section, keys in path_keys.items():
        sect = out.get(section)
        if not isinstance(sect, dict):
            continue
        sect = dict(sect)
        for key in keys:
            value = sect.get(key)
            if isinstance(value, str) and value and not Path(value).is_absolute():
                sect[key] = str(base / value)
        out[section] = sect
    return out


def load_config(path: Path | None) -> GatewayConfig:
    """Read and validate a TOML file; ``None`` gives the embedded defaults."""
    if path is None:
        return GatewayConfig()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read: {exc.strerror or exc}"]) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), [f"not valid TOML: {exc}"]) from None
    return config_from_mapping(_resolve_paths(data, path.parent.resolve()), str(path))
