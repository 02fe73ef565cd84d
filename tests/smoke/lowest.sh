#!/usr/bin/env bash
# Install the wheel with every runtime dependency at its declared floor (tests/smoke/lower_bounds.py)
# into a fresh venv outside the source tree, and run the smoke test there. Run after wheel.sh
# (it installs the wheel that wheel.sh left in dist/). Usage: tests/smoke/lowest.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
quiet() { "$@" 2>&1 | { grep -v ' is ignored: it is neither a file nor a directory' || true; }; }
wheel="$(ls dist/*.whl)"
work="$(mktemp -d /tmp/smgw-lowest.XXXXXX)"
trap 'rm -rf "$work"' EXIT
python3 tests/smoke/lower_bounds.py > "$work/lowest.txt"
python3 -m venv "$work/venv"
quiet "$work/venv/bin/pip" install -q -c "$work/lowest.txt" "$wheel"
# Say what was tested: the pins must have been taken, not just allowed.
"$work/venv/bin/python" - "$work/lowest.txt" <<'PY'
import sys
from importlib.metadata import version
def release(v):  # "3.1" == "3.1.0"; every floor here is a plain release number
    parts = [int(x) for x in v.split(".")]
    while parts and parts[-1] == 0:
        parts.pop()
    return parts
bad = []
for line in open(sys.argv[1]):
    name, _, want = line.strip().partition("==")
    if release(version(name)) != release(want):
        bad.append(f"{name} {version(name)} (floor {want})")
if bad:
    sys.exit("lowest versions not installed: " + ", ".join(bad))
print("smoke: installed at the floors:", ", ".join(l.strip() for l in open(sys.argv[1])))
PY
cp tests/smoke/smoke.py tests/bounces/data/amazon-optout-en.eml "$work/"
(cd "$work" && env -u PYTHONPATH "$work/venv/bin/python" -I smoke.py "$work/venv/bin/gateway" "$work/run" \
    --optout "$work/amazon-optout-en.eml")
