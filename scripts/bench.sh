#!/usr/bin/env bash
# Every benchmark of BENCHMARKS.md in one run, each figure with its baseline measured in the same
# run on the same machine. Writes bench-results/*.json and prints a summary.
#
#   scripts/bench.sh            (needs scripts/fetch-assets.sh for MNIST/MiniLM, and a Python
#                                with torch: TORCH_PYTHON, default python3; transformers for the
#                                MiniLM and Hugging Face schedule baselines)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${TORCH_PYTHON:-python3}"
OUT=bench-results
mkdir -p "$OUT"
export RAYON_NUM_THREADS="${RAYON_NUM_THREADS:-2}"   # same thread count on both sides
have_torch() { "$PY" -c "import torch" 2>/dev/null; }

echo "== machine"
{ uname -srm; nproc; grep -m1 "model name" /proc/cpuinfo || true; } | tee "$OUT/machine.txt"

echo "== 1. schedule cost: criterion (Rust) vs PyTorch scheduler.step() + get_last_lr()"
cargo bench -q -p sched --bench per_step -- --warm-up-time 1 --measurement-time 3 >/dev/null
"$PY" - "${CARGO_TARGET_DIR:-target}" <<'PYEOF' > "$OUT/sched_rust.json"
import json, glob, os, sys
out = {}
for d in glob.glob(os.path.join(sys.argv[1], "criterion/per_1000_steps/*/new")):
    name, at = json.load(open(os.path.join(d, "benchmark.json")))["function_id"].split("/")
    e = json.load(open(os.path.join(d, "estimates.json")))
    out.setdefault(name, {})[at] = {"median_ns": e["median"]["point_estimate"] / 1000,
                                    "lo_ns": e["median"]["confidence_interval"]["lower_bound"] / 1000,
                                    "hi_ns": e["median"]["confidence_interval"]["upper_bound"] / 1000}
print(json.dumps(out, indent=1, sort_keys=True))
PYEOF
if have_torch; then "$PY" scripts/bench/sched_torch.py > "$OUT/sched_torch.json"; fi

echo "== 2. toolkit overhead: full train path vs bare candle loop"
cargo bench -q -p cli --bench overhead 2>/dev/null | grep '^{' | tee "$OUT/overhead.json"

echo "== 3. throughput vs PyTorch (threads = $RAYON_NUM_THREADS)"
CONFIG=configs/constant.yaml STEPS=3000 cargo bench -q -p cli --bench throughput 2>/dev/null | grep '^{' | tee "$OUT/throughput_digits.json"
if have_torch; then
  for i in 1 2 3; do "$PY" scripts/bench/train_torch.py digits --steps 3000 --threads "$RAYON_NUM_THREADS"; done | tee "$OUT/torch_digits.jsonl"
fi
if [ -f configs/mnist_one_cycle.yaml ] && [ -d assets/mnist ]; then
  CONFIG=configs/mnist_one_cycle.yaml STEPS=1000 SET="schedule.total_steps=1000" cargo bench -q -p cli --bench throughput 2>/dev/null | grep '^{' | tee "$OUT/throughput_mnist.json"
  if have_torch; then
    for i in 1 2 3; do "$PY" scripts/bench/train_torch.py mnist --steps 1000 --threads "$RAYON_NUM_THREADS"; done | tee "$OUT/torch_mnist.jsonl"
  fi
fi
if [ -f configs/finetune_minilm_sentiment.yaml ] && [ -d assets/hf ]; then
  export HF_HUB_CACHE="$PWD/assets/hf/hub" HF_HUB_OFFLINE=1
  CONFIG=configs/finetune_minilm_sentiment.yaml STEPS=30 REPEATS=3 SET="schedule.warmup=null" cargo bench -q -p cli --bench throughput 2>/dev/null | grep '^{' | tee "$OUT/throughput_minilm.json"
  if have_torch; then
    for i in 1 2 3; do "$PY" scripts/bench/train_torch.py minilm --steps 30 --warmup 3 --threads "$RAYON_NUM_THREADS"; done | tee "$OUT/torch_minilm.jsonl"
  fi
fi

echo "== 4. start-up: command to first optimizer step (digits) vs python -c 'import torch'"
cargo build -q --release -p cli
BIN="${CARGO_TARGET_DIR:-target}/release/cli"
"$PY" - "$PY" "$BIN" <<'PYEOF' | tee "$OUT/startup.json"
import json, os, subprocess, sys, tempfile, time, statistics
ours, torch_import = [], []
for _ in range(5):
    d = tempfile.mkdtemp()
    t0 = time.time()
    subprocess.run([os.path.abspath(sys.argv[2]), os.path.abspath("configs/constant.yaml"),
                    "--set", "train.max_steps=20", "-q"], cwd=d, check=True, capture_output=True)
    first = json.loads(open(os.path.join(d, "runs/constant/version_0/metrics.jsonl")).readline())
    ours.append(first["wall_time"] - t0)
    t0 = time.time()
    r = subprocess.run([sys.argv[1], "-c", "import torch"], capture_output=True)
    if r.returncode == 0:
        torch_import.append(time.time() - t0)
print(json.dumps({"first_step_s": statistics.median(ours), "first_step_min_max": [min(ours), max(ours)],
                  "python_import_torch_s": statistics.median(torch_import) if torch_import else None}))
PYEOF

echo "== 5. memory: peak RSS of the MiniLM fine-tune vs PyTorch"
if [ -f configs/finetune_minilm_sentiment.yaml ] && [ -d assets/hf ] && have_torch; then
  export HF_HUB_CACHE="$PWD/assets/hf/hub" HF_HUB_OFFLINE=1
  d=$(mktemp -d)
  /usr/bin/time -f '%M' -o "$d/rss.txt" "$BIN" configs/finetune_minilm_sentiment.yaml --set logging.dir="$d/runs" --set train.max_steps=30 --set train.eval_every=30 --set train.eval_on_start=false --set schedule.warmup.steps=3 -q >/dev/null
  ours=$(cat "$d/rss.txt")
  /usr/bin/time -f '%M' -o "$d/rss_torch.txt" "$PY" scripts/bench/train_torch.py minilm --steps 30 --warmup 1 >/dev/null
  echo "{\"ours_peak_rss_kb\": $ours, \"torch_peak_rss_kb\": $(cat "$d/rss_torch.txt")}" | tee "$OUT/memory.json"
fi
echo "results in $OUT/"
