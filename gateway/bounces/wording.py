"""Which folder the bounce wording is read from, and reading all of it at start-up.

The wording files (reasons.toml, amazon.toml, markers.toml, vendors.toml, rhosts.toml) are read
lazily and cached by the modules that use them; this module sits above them all, so that switching
the folder can drop every cache without those modules importing one another.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import gateway.bounces.amazon as amazon
import gateway.bounces.markers as markers
import gateway.bounces.providers as providers
import gateway.bounces.reasons as reasons
from gateway.datafiles import PACKAGE, DataFilesError, check_bounce_wording


def use_wording_dir(folder: Path) -> None:
    """Read the bounce wording (reason rules, Amazon's notices, DSN markers, vendor and remote-host
    verdicts) from ``folder`` from now on; the next parse reads the files afresh."""
    reasons.POLICY_DIR = folder
    for cached in (reasons.rules, amazon.rules, amazon._classifier, markers.markers, providers.vendors,
                   providers._say_index, providers._detection, providers.remote_hosts):
        cached.cache_clear()


def load_all() -> None:
    """Read every wording file now (start-up), so a broken one fails here, not as "not-bounce"."""
    reasons.rules()
    amazon.rules()
    markers.markers()
    providers.vendors()
    providers.remote_hosts()


def load_bounce_wording(wording_dir: Path | None) -> Path:
    """Check, select and read the bounce wording now; ``DataFilesError`` naming the file otherwise."""
    folder = check_bounce_wording(wording_dir)
    if folder != reasons.POLICY_DIR:
        use_wording_dir(folder)
    try:
        load_all()
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError,
            re.error) as exc:
        setting = "bounces.wording_dir" if wording_dir is not None else f"the installed {PACKAGE} package data"
        raise DataFilesError(f"{setting}: bounce wording in {folder} cannot be read: "
                             f"{type(exc).__name__}: {exc}") from None
    return folder
