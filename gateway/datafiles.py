"""Where the data shipped with the gateway lives: the rule packs and the bounce wording.

The repository keeps them in its top-level ``policies/`` folder; the wheel installs that folder as
the package ``gateway.policies`` (setup.py), read here through ``importlib.resources``. Both can
be replaced from the configuration: ``[policy] packs_dir`` and ``[bounces] wording_dir``.

A folder that is missing or lacks a file is a ``DataFilesError`` naming the folder, the file and
the setting, raised at start-up (``check_*``), never a silent "no rules" or "not a bounce" later.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

PACKAGE = "gateway.policies"
# The files bounce parsing reads (gateway/bounces/*.py); each must be there for it to work.
BOUNCE_WORDING_FILES = ("amazon.toml", "markers.toml", "reasons.toml", "vendors.toml")


class DataFilesError(Exception):
    """Shipped data that should be there is not: one line saying what, where, and which setting."""


def shipped_policies() -> Path:
    """The folder of the shipped rule packs (with ``examples/`` and ``bounces/`` beside them)."""
    try:
        root = importlib.resources.files(PACKAGE)
    except ModuleNotFoundError:
        # A checkout run without `pip install` (or whose editable install predates the package
        # mapping): the repository's own folder, the same files.
        return Path(__file__).resolve().parent.parent / "policies"
    # Installed from a wheel or in place, the package is a plain folder on disk (not a zip).
    return Path(str(root))


def shipped_bounce_wording() -> Path:
    return shipped_policies() / "bounces"


def check_packs_dir(packs_dir: Path | None) -> Path:
    """The rule pack folder in use; ``DataFilesError`` when it holds no pack."""
    folder = packs_dir if packs_dir is not None else shipped_policies()
    setting = "policy.packs_dir" if packs_dir is not None else f"the installed {PACKAGE} package data"
    if not folder.is_dir():
        raise DataFilesError(f"{setting}: rule pack folder {folder} does not exist")
    if not any(folder.glob("*.toml")):
        raise DataFilesError(f"{setting}: no rule packs (*.toml) in {folder}")
    return folder


def check_bounce_wording(wording_dir: Path | None) -> Path:
    """The bounce wording folder in use; ``DataFilesError`` when one of its files is missing."""
    folder = wording_dir if wording_dir is not None else shipped_bounce_wording()
    setting = "bounces.wording_dir" if wording_dir is not None else f"the installed {PACKAGE} package data"
    if not folder.is_dir():
        raise DataFilesError(f"{setting}: bounce wording folder {folder} does not exist")
    missing = [name for name in BOUNCE_WORDING_FILES if not (folder / name).is_file()]
    if missing:
        raise DataFilesError(f"{setting}: {', '.join(missing)} missing in bounce wording folder {folder}")
    return folder


def load_bounce_wording(wording_dir: Path | None) -> Path:
    """Check, select and read the bounce wording now; ``DataFilesError`` naming the file otherwise."""
    import re
    import tomllib

    from gateway.bounces import reasons

    folder = check_bounce_wording(wording_dir)
    if folder != reasons.POLICY_DIR:
        reasons.use_wording_dir(folder)
    try:
        reasons.load_all()
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError,
            re.error) as exc:
        setting = "bounces.wording_dir" if wording_dir is not None else f"the installed {PACKAGE} package data"
        raise DataFilesError(f"{setting}: bounce wording in {folder} cannot be read: "
                             f"{type(exc).__name__}: {exc}") from None
    return folder
