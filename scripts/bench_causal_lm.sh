#!/usr/bin/env bash
# The causal-LM and LoRA figures of BENCHMARKS.md ("Causal LM: LoRA fine-tune and generate") and
# docs/finetuning.md, each against its baseline measured in the same session, runs alternating.
#
#   scripts/fetch-assets.sh && scripts/py/setup-torch-venv.sh     # the GGUF, the texts, the venv
#   cargo build --release -p cli
#   scripts/bench_causal_lm.sh                   # PARTS="train generate" by default (~15 min)
#   PARTS="minilm smollm2" scripts/bench_causal_lm.sh             # the shipped runs (~25 min)
#
# Env: BIN (default ${CARGO_TARGET_DIR:-target}/release/cli), PY (default assets/venv-torch/bin/python),
# ROUNDS (2), STEPS (20 measured steps after 3 warm-up steps), OUT (bench-results/causal_lm).
# Each run writes OUT/<part>_<side>_<round>.json (figures) and .log; `cpu_pct` in the figures is
# (user + sys) / wall of the process: ~200 % for two busy threads, less when something else took
# the CPU (discard such runs). 2 threads on both sides: RAYON_NUM_THREADS=2, torch.set_num_threads(2).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${BIN:-${CARGO_TARGET_DIR:-target}/release/cli}"
PY="${PY:-assets/venv-torch/bin/python}"
ROUNDS="${ROUNDS:-2}"
FIRST_ROUND="${FIRST_ROUND:-1}"
STEPS="${STEPS:-20}"
OUT="${OUT:-bench-results/causal_lm}"
PARTS="${PARTS:-train generate}"
GGUF=assets/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
TEXT=assets/text/moby-dick.txt
PROMPT="${PROMPT:-Call me Ishmael. Some years ago, never mind how long precisely, I thought I would}"
export RAYON_NUM_THREADS=2
MON=(python3 scripts/bench/peak_rss.py)
mkdir -p "$OUT"
note() { echo "[$(date +%T)] load $(cut -d' ' -f1-3 /proc/loadavg): $*" | tee -a "$OUT/session.log"; }

# Waits (at most QUIET_MAX s, default 900) until the machine is idle: under 10 % of all CPUs busy
# over 3 s (other agents' builds and tests share these cores). Logs how long it waited, and if it gave up.
wait_quiet() {
  python3 - "${QUIET_MAX:-900}" <<'PYEOF' | tee -a "$OUT/session.log"
import sys, time
def busy():
    v = list(map(int, open("/proc/stat").readline().split()[1:]))
    return sum(v) - v[3] - v[4], sum(v)
t0 = time.time()
while True:
    b0, a0 = busy(); time.sleep(3); b1, a1 = busy()
    frac = (b1 - b0) / max(1, a1 - a0)
    if frac < 0.10 or time.time() - t0 > float(sys.argv[1]):
        print(f"  quiet check: {100 * frac:.0f} % busy after waiting {time.time() - t0:.0f} s" + ("" if frac < 0.10 else " (gave up)"))
        break
PYEOF
}

# Median perf/<key> of steps >= 3 (steps 0-2 are the warm-up) from a metrics.jsonl.
median_metric() {
  python3 - "$1" "$2" <<'EOF'
import json, statistics, sys
v = [r["value"] for r in map(json.loads, open(sys.argv[1])) if r.get("tag") == sys.argv[2] and r["step"] >= 3]
print(json.dumps({"median": statistics.median(v), "min": min(v), "max": max(v), "n": len(v)}))
EOF
}

# 1. LoRA fine-tune, SmolLM2-135M (30 blocks), seq 128, batch 4, r 8, alpha 16, q/k/v/o, AdamW, fp32.
train_ours() {
  local d; d=$(mktemp -d /tmp/bench-lm-XXXX)
  wait_quiet; note "train ours round $1"
  "${MON[@]}" --phase-file "$d/runs/finetune_smollm2_lora/version_0/metrics.jsonl" --out "$OUT/train_ours_$1.json" -- \
    "$BIN" configs/finetune_smollm2_lora.yaml -q --set logging.dir="$d/runs" \
    --set train.max_steps=$((STEPS + 3)) --set logging.every=1 --set train.eval_on_start=false \
    --set train.eval_every=100000 --set train.checkpoint_every=100000 --set train.eval_batch_size=4 \
    >"$OUT/train_ours_$1.log" 2>&1
  median_metric "$d/runs/finetune_smollm2_lora/version_0/metrics.jsonl" perf/tokens_per_sec | tee -a "$OUT/train_ours_$1.json"
  rm -rf "$d"
}
train_torch() {
  wait_quiet; note "train torch round $1"
  "${MON[@]}" --out "$OUT/train_torch_$1.rss.json" -- \
    "$PY" scripts/py/bench_lora_torch.py --gguf "$GGUF" --layers 30 --seq-len 128 --batch 4 --rank 8 --alpha 16 \
    --dropout 0.05 --targets q_proj,k_proj,v_proj,o_proj --steps "$STEPS" --warmup-steps 3 --threads 2 \
    --text "$TEXT" >"$OUT/train_torch_$1.json" 2>"$OUT/train_torch_$1.log"
}

# 2. generate: greedy, 64 new tokens. Ours is a whole process (GGUF load included): 1 and 65 new
# tokens, decode tokens/s = 64 / (t65 - t1). PyTorch: its decode_tokens_per_sec (median of 3).
gen_ours() {
  wait_quiet; note "generate ours round $1"
  for n in 1 65; do
    "${MON[@]}" --out "$OUT/gen_ours_${n}_$1.json" -- \
      "$BIN" generate configs/finetune_smollm2_lora.yaml --prompt "$PROMPT" --max-new-tokens $n >"$OUT/gen_ours_${n}_$1.txt"
  done
}
gen_torch() {
  wait_quiet; note "generate torch round $1"
  "${MON[@]}" --out "$OUT/gen_torch_$1.rss.json" -- \
    "$PY" scripts/py/bench_lora_torch.py --gguf "$GGUF" --generate 64 --threads 2 --prompt "$PROMPT" \
    >"$OUT/gen_torch_$1.json" 2>"$OUT/gen_torch_$1.log"
}

# 3./4. The shipped configs as they are (MiniLM: full fine-tune vs LoRA; SmolLM2 LoRA).
shipped() {
  local cfg=$1 tag=$2; shift 2
  local d; d=$(mktemp -d /tmp/bench-lm-XXXX)
  wait_quiet; note "shipped $cfg $*"
  "${MON[@]}" --out "$OUT/${tag}.json" -- "$BIN" "$cfg" -q --set logging.dir="$d/runs" "$@" >"$OUT/${tag}.log" 2>&1
  local run; run=$(ls -d "$d"/runs/*/version_0)
  cp "$run/metrics.jsonl" "$OUT/${tag}.metrics.jsonl"
  (cd "$run/checkpoints" && ls -l */*) >"$OUT/${tag}.ckpt_sizes" 2>/dev/null || true
  rm -rf "$d"
}

echo "$(uname -srm), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)" | tee "$OUT/machine.txt"
for part in $PARTS; do
  case $part in
    train) for r in $(seq "$FIRST_ROUND" "$ROUNDS"); do train_ours "$r"; train_torch "$r"; done ;;
    generate) for r in $(seq "$FIRST_ROUND" "$ROUNDS"); do gen_ours "$r"; gen_torch "$r"; done ;;
    minilm)
      export HF_HUB_CACHE="$PWD/assets/hf/hub" HF_HUB_OFFLINE=1
      shipped configs/finetune_minilm_sentiment.yaml "minilm_full${TAG:-}"
      shipped configs/finetune_minilm_lora.yaml "minilm_lora${TAG:-}"
      for lr in ${LORA_LRS:-}; do shipped configs/finetune_minilm_lora.yaml "minilm_lora_lr$lr" --set optimizer.lr="$lr"; done ;;
    smollm2) shipped configs/finetune_smollm2_lora.yaml smollm2_lora ;;
    *) echo "unknown part $part (train generate minilm smollm2)" >&2; exit 2 ;;
  esac
done
note "done; results in $OUT/"
