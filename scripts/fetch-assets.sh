#!/usr/bin/env bash
# Fetches the pinned test assets, each by exact version and checked by sha256, into assets/
# (git-ignored). Idempotent: a second run only verifies. Everything comes from package
# registries (PyPI, npm), the only network these machines and CI reach.
#
#   assets/venv-tb/        PyPI tensorboard==2.21.0, to read event files back with the real reader
#
# Usage: scripts/fetch-assets.sh            (ASSETS_DIR overrides the location)
set -euo pipefail
cd "$(dirname "$0")/.."
ASSETS_DIR="${ASSETS_DIR:-$PWD/assets}"
mkdir -p "$ASSETS_DIR"

# --- TensorBoard (the real reader of event files) --------------------------------------------
TB_VERSION=2.21.0
TB_VENV="$ASSETS_DIR/venv-tb"
if ! "$TB_VENV/bin/python" -c "import tensorboard, sys; sys.exit(tensorboard.__version__ != '$TB_VERSION')" 2>/dev/null; then
  echo "fetch-assets: installing tensorboard==$TB_VERSION into $TB_VENV"
  rm -rf "$TB_VENV"
  python3 -m venv "$TB_VENV"
  "$TB_VENV/bin/pip" install --quiet --disable-pip-version-check "tensorboard==$TB_VERSION"
fi
echo "fetch-assets: tensorboard $TB_VERSION ok ($TB_VENV)"
