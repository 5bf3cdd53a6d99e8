#!/usr/bin/env bash
# The GPU check in one command, sized for a 10-minute run on one NVIDIA GPU: build the CUDA binary
# (or take prebuilt ones), run the CUDA test subset (tests/gpu_cli.rs), then print one table of
# throughput (samples/s, tokens/s) and peak GPU memory, ours against PyTorch on the same GPU (same
# model, batch and precision: scripts/bench/torch_gpu.py).
#
#   scripts/gpu-check.sh                  build (warm target dir), test, benchmark
#   scripts/gpu-check.sh --dry-run        list the steps and their commands; runs nothing, exit 0
#   scripts/gpu-check.sh --pack DIR       build here (no GPU needed) and put the release binary and
#                                         the test executable, stripped and gzipped (~31 MB), into
#                                         DIR (e.g. gpu-pack/, git-ignored: carry it to the GPU machine)
#   scripts/gpu-check.sh --prebuilt DIR   on the GPU machine (no cargo needed): use DIR's binaries
#   --no-tests, --no-bench                skip a part
#
# Environment: GPU_CHECK_DEVICE (cuda:0), TORCH_PYTHON (assets/venv-torch/bin/python if present,
# else python3), CARGO_TARGET_DIR (~/.cache/lr-toolkit/target-cuda: CI's CUDA build),
# GPU_CHECK_OUT (bench-results/gpu). Without nvcc on PATH the build takes the toolchain from
# scripts/cuda-toolchain.sh (PyPI). The MiniLM and SmolLM2 parts need scripts/fetch-assets.sh;
# without assets/ they are skipped (said in the output), digits replaces MNIST in the table.
# Timeouts: tests 300 s, each of the (at most 8) benchmark runs 30 s: under 10 minutes in all. The
# two build steps (180 s each) take seconds on a warm target dir (CI's) and are skipped with
# --prebuilt; a cold build (~20 min on 2 cores) does not fit: build first, or --pack elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

dry=0 tests=1 bench=1 prebuilt="" pack=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry=1 ;;
    --no-tests) tests=0 ;;
    --no-bench) bench=0 ;;
    --prebuilt) prebuilt="${2:?--prebuilt DIR}"; shift ;;
    --pack) pack="${2:?--pack DIR}"; shift ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu-check: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

DEVICE="${GPU_CHECK_DEVICE:-cuda:0}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/lr-toolkit/target-cuda}"
OUT="${GPU_CHECK_OUT:-bench-results/gpu}"
if [ -n "${TORCH_PYTHON:-}" ]; then PY="$TORCH_PYTHON"
elif [ -x assets/venv-torch/bin/python ]; then PY=assets/venv-torch/bin/python
else PY=python3; fi
have_assets=0
[ -d assets/hf/hub ] && [ -d assets/sentiment ] && [ -d assets/mnist ] && [ -d assets/smollm2 ] && have_assets=1
T_BUILD=180 T_TESTS=300 T_BENCH=30
if [ -n "$prebuilt" ]; then
  for b in cli gpu_cli; do   # --pack gzips them
    if [ ! -x "$prebuilt/$b" ] && [ -f "$prebuilt/$b.gz" ]; then
      gzip -dc "$prebuilt/$b.gz" > "$prebuilt/$b" && chmod +x "$prebuilt/$b"
    fi
  done
  BIN="$prebuilt/cli" TEST_BIN="$prebuilt/gpu_cli"
else
  BIN="$CARGO_TARGET_DIR/release/cli" TEST_BIN=""
fi
CARGO_FEATURES=(--release -p cli --features cuda)
TEST_ARGS=(--test-threads=1)
[ "$have_assets" = 1 ] && TEST_ARGS+=(--include-ignored)

n=0
say() { printf '\n== %s\n' "$*"; }
# step TITLE TIMEOUT CMD...: runs CMD under `timeout`, or only prints it with --dry-run.
step() {
  local title="$1" limit="$2"
  shift 2
  n=$((n + 1))
  if [ "$dry" = 1 ]; then
    printf '%2d. %s (timeout %ss)\n    %s\n' "$n" "$title" "$limit" "$*"
    return 0
  fi
  say "$n. $title"
  local start=$SECONDS rc=0
  timeout --kill-after=10 "$limit" "$@" || rc=$?
  echo "-- $title: exit $rc in $((SECONDS - start)) s"
  return "$rc"
}

# The CUDA runtime libraries for running (not building): the toolchain's, else those of the
# Python that has PyTorch (its CUDA 13 wheels), else the system's.
runtime_libs() {
  local dir=""
  if [ -n "${CUDA_ROOT:-}" ] && [ -e "$CUDA_ROOT/lib/libcublas.so.13" ]; then dir="$CUDA_ROOT/lib"
  elif scripts/cuda-toolchain.sh --check 2>/dev/null; then
    dir="$(scripts/cuda-toolchain.sh --env | sed -n "s/^export CUDA_ROOT='\(.*\)'$/\1/p")/lib"
  else
    dir="$("$PY" -c 'import os, nvidia; print(next(os.path.join(p, "cu13", "lib") for p in nvidia.__path__ if os.path.isdir(os.path.join(p, "cu13", "lib"))))' 2>/dev/null || true)"
  fi
  if [ -n "$dir" ]; then export LD_LIBRARY_PATH="$dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; fi
  echo "${dir:-(system library path)}"
}

# The toolchain when this machine has no nvcc of its own.
toolchain() {
  if ! command -v nvcc >/dev/null; then
    if [ "$dry" = 1 ]; then
      echo "    (no nvcc on PATH: eval \"\$(scripts/cuda-toolchain.sh --env)\" first)"
    else
      local cuda_env
      cuda_env="$(scripts/cuda-toolchain.sh --env)"
      eval "$cuda_env"
    fi
  fi
  # nvidia-smi cannot be asked during a build without a GPU: the toolchain's default (80, PTX that
  # any newer GPU JIT-compiles) unless set.
  export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-80}"
}

build() {
  toolchain
  step "build the CUDA binary ($BIN)" "$T_BUILD" cargo build "${CARGO_FEATURES[@]}"
}

# The gpu_cli test executable cargo builds (its path is printed by --message-format=json).
build_tests() {
  step "build the CUDA tests" "$T_BUILD" cargo test "${CARGO_FEATURES[@]}" --test gpu_cli --no-run
  [ "$dry" = 1 ] && return 0
  TEST_BIN="$(cargo test "${CARGO_FEATURES[@]}" --test gpu_cli --no-run --message-format=json 2>/dev/null \
    | "$PY" -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "gpu_cli" and m.get("executable"):
        print(m["executable"])')"
}

if [ -n "$pack" ]; then
  build
  build_tests
  [ "$dry" = 1 ] && exit 0
  mkdir -p "$pack"
  cp "$BIN" "$pack/cli" && cp "$TEST_BIN" "$pack/gpu_cli"
  strip "$pack/cli" "$pack/gpu_cli" 2>/dev/null || true
  # Gzipped (~111 MB stripped -> ~31 MB): fits what a device run can carry (64 MiB).
  gzip -6 -f "$pack/cli" "$pack/gpu_cli"
  ls -la "$pack"
  echo "on the GPU machine: scripts/gpu-check.sh --prebuilt $pack"
  exit 0
fi

[ "$dry" = 1 ] && echo "gpu-check plan (device $DEVICE, target dir $CARGO_TARGET_DIR, PyTorch from $PY, assets: $([ "$have_assets" = 1 ] && echo yes || echo 'no: MiniLM/SmolLM2 parts skipped')):"
if [ "$dry" = 0 ]; then
  say "GPU"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader \
    || { echo "gpu-check: nvidia-smi found no GPU (use --dry-run to see the plan)" >&2; exit 1; }
fi
if [ -z "$prebuilt" ]; then
  build
  [ "$tests" = 1 ] && build_tests
fi
if [ "$dry" = 1 ]; then
  echo "    runtime libraries: \$CUDA_ROOT/lib, else the PyTorch Python's nvidia/cu13/lib, else the system's"
else
  echo "runtime libraries: $(runtime_libs)"
  if ldd "$BIN" | grep 'not found'; then echo "gpu-check: $BIN misses libraries (above)" >&2; exit 1; fi
fi

failed=0
if [ "$tests" = 1 ]; then
  # CLI_BIN / LR_TOOLKIT_ROOT: the test executable runs this binary on this checkout (it may have
  # been built elsewhere). No --include-ignored without the assets: those tests need them.
  if [ "$dry" = 1 ] && [ -z "$TEST_BIN" ]; then TEST_BIN='<the gpu_cli test executable built above>'; fi
  step "CUDA tests: device selection, CPU agreement, bf16/f16, kill -9 + exact resume, LoRA, MiniLM" \
    "$T_TESTS" env GPU_CHECK_DEVICE="$DEVICE" CLI_BIN="$(realpath -m "$BIN")" LR_TOOLKIT_ROOT="$ROOT" RUST_BACKTRACE=0 \
    "$TEST_BIN" "${TEST_ARGS[@]}" || failed=1
fi

# --- throughput and memory -----------------------------------------------------------------
# ours NAME CONFIG SETS...: a release run on the GPU under gpu_mem.py; its metrics.jsonl's
# perf/samples_per_sec and perf/tokens_per_sec give the throughput.
ours() {
  local name="$1" config="$2"
  shift 2
  local args=("$(realpath -m "$BIN")" "$config" -q --set "device=$DEVICE" --set "logging.dir=$OUT/runs-$name"
    --set logging.tensorboard=false --set train.checkpoint_every=0)
  local s
  for s in "$@"; do args+=(--set "$s"); done
  [ "$dry" = 1 ] || rm -rf "$OUT/runs-$name"
  step "ours:  $name" "$T_BENCH" python3 scripts/bench/gpu_mem.py --out "$OUT/ours-$name.mem.json" -- "${args[@]}" || failed=1
}
# torch NAME TASK ARGS...: scripts/bench/torch_gpu.py under gpu_mem.py, its JSON line kept.
torch_run() {
  local name="$1" task="$2"
  shift 2
  step "torch: $name" "$T_BENCH" python3 scripts/bench/gpu_mem.py --out "$OUT/torch-$name.mem.json" -- \
    "$PY" scripts/bench/torch_gpu.py "$task" --device "$DEVICE" --out "$OUT/torch-$name.json" "$@" || failed=1
}

if [ "$bench" = 1 ]; then
  [ "$dry" = 1 ] || mkdir -p "$OUT"
  precisions="f32"
  # bf16 rows once `train.precision` exists (mixed precision, being added on another branch).
  if [ "$dry" = 1 ] || "$BIN" validate configs/constant.yaml --set train.precision=bf16 >/dev/null 2>&1; then
    precisions="f32 bf16"
  fi
  export HF_HUB_CACHE="$ROOT/assets/hf/hub" HF_HUB_OFFLINE=1
  for p in $precisions; do
    pset=()
    [ "$p" = f32 ] || pset=("train.precision=$p")
    if [ "$have_assets" = 1 ]; then
      # MNIST MLP 784-256-10, batch 128, 600 steps; MiniLM batch 16, 60 steps.
      ours "mnist-$p" configs/mnist_one_cycle.yaml train.max_steps=600 train.epochs=null \
        schedule.total_steps=600 train.eval_every=600 "${pset[@]}"
      torch_run "mnist-$p" mnist --steps 600 --warmup 50 --precision "$p"
      ours "minilm-$p" configs/finetune_minilm_sentiment.yaml train.max_steps=60 schedule.warmup=null \
        train.eval_every=60 train.eval_on_start=false "${pset[@]}"
      torch_run "minilm-$p" minilm --steps 60 --warmup 5 --precision "$p"
    else
      ours "digits-$p" configs/constant.yaml train.max_steps=2000 train.eval_every=2000 "${pset[@]}"
      torch_run "digits-$p" digits --steps 2000 --warmup 50 --precision "$p"
    fi
  done
  if [ "$dry" = 1 ]; then
    n=$((n + 1))
    printf '%2d. the table: %s/*.json -> workload, precision, samples/s, tokens/s, peak GPU MiB (ours | torch)\n' "$n" "$OUT"
  else
    say "throughput and peak GPU memory on $(nvidia-smi --query-gpu=name --format=csv,noheader | head -n 1)"
    python3 - "$OUT" <<'PYEOF' | tee "$OUT/table.txt"
import glob, json, os, statistics, sys
out = sys.argv[1]
def load(p):
    try:
        with open(p) as f:
            return json.loads(f.read().strip().splitlines()[-1])
    except (OSError, ValueError, IndexError):
        return {}
def ours(name):
    vals = {}
    for path in glob.glob(os.path.join(out, f"runs-{name}", "*", "version_*", "metrics.jsonl")):
        for line in open(path):
            m = json.loads(line)
            if m["tag"] in ("perf/samples_per_sec", "perf/tokens_per_sec"):
                vals.setdefault(m["tag"], []).append(m["value"])
    # The first figure holds the warm-up (PTX JIT, cuBLAS handles): left out when there are more.
    med = lambda v: statistics.median(v[1:] if len(v) > 1 else v) if v else None
    return med(vals.get("perf/samples_per_sec", [])), med(vals.get("perf/tokens_per_sec", []))
def fmt(v, nd=0):
    return "—" if v is None else f"{v:,.{nd}f}"
names = sorted({os.path.basename(p)[len("ours-"):-len(".mem.json")] for p in glob.glob(os.path.join(out, "ours-*.mem.json"))})
rows = [("workload", "samples/s ours", "samples/s torch", "ratio", "tokens/s ours", "tokens/s torch", "peak MiB ours", "peak MiB torch", "torch alloc MiB")]
for name in names:
    s, t = ours(name)
    tj = load(os.path.join(out, f"torch-{name}.json"))
    om, tm = load(os.path.join(out, f"ours-{name}.mem.json")), load(os.path.join(out, f"torch-{name}.mem.json"))
    peak = lambda m: m.get("peak_gpu_mib") if m.get("peak_gpu_mib") is not None else m.get("peak_gpu_mib_device")
    ts = tj.get("samples_per_sec")
    rows.append((name, fmt(s), fmt(ts), fmt(s / ts if s and ts else None, 2), fmt(t), fmt(tj.get("tokens_per_sec")),
                 fmt(peak(om)), fmt(peak(tm)), fmt(tj.get("max_memory_allocated_mib"))))
w = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
for i, r in enumerate(rows):
    print("  ".join(c.ljust(w[k]) for k, c in enumerate(r)))
    if i == 0:
        print("  ".join("-" * x for x in w))
print("\npeak MiB: the process's GPU memory as nvidia-smi reports it (CUDA context + allocator cache +\n"
      "tensors), the same measure for both; torch alloc: torch.cuda.max_memory_allocated (tensors only).\n"
      "tokens/s: ours for language models only; torch's MiniLM figure counts padded tokens.")
PYEOF
  fi
fi

if [ "$dry" = 1 ]; then
  echo "(dry run: nothing was run)"
  exit 0
fi
[ "$failed" = 0 ] && echo "gpu-check: all passed" || echo "gpu-check: FAILED (see above)"
exit "$failed"
