#!/usr/bin/env bash
# Build the wheel and sdist, install the wheel into a fresh venv in a folder without the source
# tree, and run the smoke test there (tests/smoke/smoke.py). Usage: tests/smoke/wheel.sh [PYTHON]
# Leaves the built files in dist/ (the container build installs that wheel).
set -euo pipefail
quiet() { "$@" 2>&1 | { grep -v " is ignored: it is neither a file nor a directory" || true; }; }
cd "$(dirname "$0")/../.."
python="${1:-.venv/bin/python}"
rm -rf dist build
"$python" -m build --outdir dist . >/tmp/smoke-build.log 2>&1 || { tail -n 30 /tmp/smoke-build.log; exit 1; }
wheel="$(ls dist/*.whl)"
# The sdist must carry the packs too (a wheel built from it is the same).
tar -tzf dist/*.tar.gz >/tmp/smoke-sdist.txt; grep -q '/policies/bounces/amazon.toml$' /tmp/smoke-sdist.txt || { echo "sdist lacks policies/" >&2; exit 1; }
# Every file of policies/ is in the wheel as gateway/policies/... (a new kind of file in the
# packs must not be left out silently).
python3 - "$wheel" <<'PY'
import subprocess, sys, zipfile
tracked = subprocess.run(["git", "ls-files", "policies"], capture_output=True, text=True, check=True).stdout.split()
shipped = set(zipfile.ZipFile(sys.argv[1]).namelist())
missing = [p for p in tracked if "gateway/" + p not in shipped]
if missing:
    sys.exit(f"the wheel lacks {len(missing)} files of policies/: {missing[:10]}")
print(f"smoke: the wheel ships all {len(tracked)} files of policies/")
PY
work="$(mktemp -d /tmp/smgw-wheel.XXXXXX)"
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
quiet "$work/venv/bin/pip" install -q "$wheel"
cp tests/smoke/smoke.py tests/bounces/data/amazon-optout-en.eml "$work/"
# From the empty folder, with nothing of the checkout on the path.
(cd "$work" && env -u PYTHONPATH "$work/venv/bin/python" -I smoke.py "$work/venv/bin/gateway" "$work/run" \
    --optout "$work/amazon-optout-en.eml")
