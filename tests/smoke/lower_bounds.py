"""Print a pip constraints file pinning every runtime dependency to its declared lower bound.

    python tests/smoke/lower_bounds.py > lowest.txt && pip install -c lowest.txt dist/*.whl

pyproject.toml declares floors (">="), never exact versions; CI installs exactly the floors once
and runs the smoke test, so a floor that no longer works (an API used that the floor lacks, a
floor that cannot be installed) fails there instead of on an admin's machine.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

_REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(.*)$")


def lower_bounds(pyproject: Path) -> list[str]:
    deps = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    pins = []
    for dep in deps:
        match = _REQ.match(dep.split(";")[0])
        if match is None:
            raise SystemExit(f"cannot read requirement {dep!r}")
        name, spec = match.groups()
        floors = re.findall(r">=\s*([^,\s]+)", spec)
        if len(floors) != 1:
            raise SystemExit(f"{dep!r}: expected exactly one '>=' floor")
        pins.append(f"{name}=={floors[0]}")
    return pins


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2]
    print("\n".join(lower_bounds(root / "pyproject.toml")))
