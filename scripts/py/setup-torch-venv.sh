#!/usr/bin/env bash
# Creates assets/venv-torch (git-ignored): the PyTorch / transformers / PEFT reference environment
# used by scripts/py/*.py to check our exports and to measure PyTorch's training speed.
# Pinned versions; PyPI's default torch wheel (the CUDA build, ~5.7 GB installed, runs fine on CPU:
# only PyPI is reachable, so there is no CPU-only wheel index). Idempotent: a second run only checks.
#
# Usage: scripts/py/setup-torch-venv.sh        (ASSETS_DIR overrides the location of assets/)
set -euo pipefail
cd "$(dirname "$0")/../.."
# The real path: a venv records its own location, so an assets/ symlink must not end up in it.
mkdir -p "${ASSETS_DIR:-$PWD/assets}"
ASSETS_DIR="$(realpath "${ASSETS_DIR:-$PWD/assets}")"
VENV="$ASSETS_DIR/venv-torch"
PINS=(
  torch==2.15.0
  transformers==5.24.0
  peft==0.21.2
  accelerate==1.15.0
  gguf==0.19.0
  safetensors==0.8.0
  numpy==2.4.6
  psutil==7.2.2
)
# check: exits 0 when every pinned package is installed at its pinned version.
check() {
  "$VENV/bin/python" - "${PINS[@]}" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
bad = [p for p in sys.argv[1:] if version(p.split("==")[0]) != p.split("==")[1]]
sys.exit(1 if bad else 0)
PY
}
if ! check; then
  echo "setup-torch-venv: installing ${PINS[*]} into $VENV (a few minutes, ~6 GB)"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "${PINS[@]}"
  check || { echo "setup-torch-venv: installed versions differ from the pins" >&2; exit 1; }
fi
"$VENV/bin/python" -c "import torch, transformers, peft, gguf, safetensors, numpy, accelerate, psutil"
echo "setup-torch-venv: ok ($VENV: torch $("$VENV/bin/python" -c 'import torch; print(torch.__version__)'))"
