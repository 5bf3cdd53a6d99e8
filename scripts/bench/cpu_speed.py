#!/usr/bin/env python3
"""CPU training speed and peak memory of the shipped fine-tunes, ours against PyTorch, alternating
in rounds on the same machine (the figures of BENCHMARKS.md's CPU-speed section). Stdlib only.

  scripts/bench/cpu_speed.py --variant tuned=target/release/cli \\
      --variant system=target/release/cli:LR_TOOLKIT_ALLOCATOR=system [--rounds 3] \\
      [--workloads mnist,minilm,smollm2] [--contend] [--out bench-results/cpu_speed]

Each variant is LABEL=BINARY[:VAR=VALUE,...] (one cli binary, run with those environment
variables). Every round runs each workload once per variant and once in PyTorch
(`assets/venv-torch`, or PY), 2 threads each (RAYON_NUM_THREADS=2, torch.set_num_threads(2)),
waiting first until the machine is quiet. Ours: the median of `perf/samples_per_sec` (or
`perf/tokens_per_sec`) over the logged steps after the first three; PyTorch: its own script's rate
after 3 warm-up steps. Peak RSS is the whole process's (scripts/bench/peak_rss.py).
`--contend` runs a busy-looping process next to each run (one core of the two taken away).
Writes OUT/runs.jsonl (one line per run) and prints the summary table (also OUT/summary.json).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
GGUF = "assets/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
NO_EVAL = ["--set", "train.eval_every=1000000", "--set", "train.checkpoint_every=1000000",
           "--set", "train.eval_on_start=false", "--set", "logging.every=1"]


def ours_command(workload, binary, runs):
    """The cli command line of `workload` logging under `runs`, and the metric it is read by."""
    common = [binary, "-q", "--set", f"logging.dir={runs}"] + NO_EVAL
    if workload == "mnist":
        return common[:1] + ["configs/mnist_one_cycle.yaml"] + common[1:] + [
            "--set", "train.epochs=null", "--set", "train.max_steps=603",
            "--set", "schedule.total_steps=603"], "perf/samples_per_sec"
    if workload == "minilm":
        return common[:1] + ["configs/finetune_minilm_sentiment.yaml"] + common[1:] + [
            "--set", "train.max_steps=33", "--set", "schedule.warmup=null"], "perf/samples_per_sec"
    if workload == "smollm2":
        return common[:1] + ["configs/finetune_smollm2_lora.yaml"] + common[1:] + [
            "--set", "train.max_steps=11", "--set", "train.eval_batch_size=4"], "perf/tokens_per_sec"
    raise SystemExit(f"unknown workload {workload}")


def torch_command(workload, py):
    if workload == "mnist":
        return [py, "scripts/bench/train_torch.py", "mnist", "--steps", "600", "--warmup", "3", "--threads", "2"]
    if workload == "minilm":
        return [py, "scripts/bench/train_torch.py", "minilm", "--steps", "30", "--warmup", "3", "--threads", "2"]
    return [py, "scripts/py/bench_lora_torch.py", "--gguf", GGUF, "--layers", "30", "--seq-len", "128",
            "--batch", "4", "--rank", "8", "--alpha", "16", "--dropout", "0.05",
            "--targets", "q_proj,k_proj,v_proj,o_proj", "--steps", "8", "--warmup-steps", "3",
            "--threads", "2", "--text", "assets/text/moby-dick.txt"]


def wait_quiet(limit=900):
    """Waits until under 10 % of the CPUs were busy over 3 s (at most `limit` s); the wait in s."""
    def busy():
        v = list(map(int, open("/proc/stat").readline().split()[1:]))
        return sum(v) - v[3] - v[4], sum(v)
    t0 = time.time()
    while True:
        b0, a0 = busy()
        time.sleep(3)
        b1, a1 = busy()
        if (b1 - b0) / max(1, a1 - a0) < 0.10 or time.time() - t0 > limit:
            return round(time.time() - t0)


def measured(cmd, env, contend):
    """Runs `cmd` under peak_rss.py (with a busy loop beside it when `contend`): (rc, usage, stdout)."""
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if contend else None
    with tempfile.NamedTemporaryFile("r", suffix=".json") as usage:
        try:
            p = subprocess.run([sys.executable, "scripts/bench/peak_rss.py", "--out", usage.name, "--"] + cmd,
                               env=env, capture_output=True, text=True)
        finally:
            if hog:
                hog.kill()
                hog.wait()
        text = open(usage.name).read()
    return p.returncode, json.loads(text) if text else {}, p.stdout + p.stderr


def median_after_warmup(metrics, tag):
    v = [r["value"] for r in map(json.loads, open(metrics)) if r.get("tag") == tag and r["step"] >= 3]
    return statistics.median(v) if v else None


def run_ours(workload, label, binary, extra_env, contend):
    env = dict(os.environ, RAYON_NUM_THREADS="2", **extra_env)
    with tempfile.TemporaryDirectory() as d:
        cmd, tag = ours_command(workload, binary, os.path.join(d, "runs"))
        rc, usage, out = measured(cmd, env, contend)
        files = [os.path.join(r, f) for r, _, fs in os.walk(d) for f in fs if f == "metrics.jsonl"]
        rate = median_after_warmup(files[0], tag) if rc == 0 and files else None
    return {"side": label, "rate": rate, "unit": tag.split("/")[1], "rc": rc, **usage,
            "log": None if rc == 0 else out[-2000:]}


def run_torch(workload, py, contend):
    rc, usage, out = measured(torch_command(workload, py), dict(os.environ), contend)
    rate = None
    if rc == 0:
        start = out.index("{")
        result = json.JSONDecoder().raw_decode(out[start:])[0]
        rate = result.get("samples_per_sec") or result.get("tokens_per_sec")
    return {"side": "torch", "rate": rate, "rc": rc, **usage, "log": None if rc == 0 else out[-2000:]}


def parse_variant(text):
    label, _, rest = text.partition("=")
    binary, _, envs = rest.partition(":")
    extra = dict(kv.split("=", 1) for kv in envs.split(",") if kv)
    return label, os.path.abspath(binary), extra


def summary(rows):
    table = {}
    for r in rows:
        table.setdefault(r["workload"], {}).setdefault(r["side"], []).append(r)
    out = {}
    for workload, sides in table.items():
        torch_rates = [r["rate"] for r in sides.get("torch", []) if r["rate"]]
        base = statistics.median(torch_rates) if torch_rates else None
        for side, runs in sides.items():
            rates = [r["rate"] for r in runs if r["rate"]]
            rss = [r.get("peak_rss_mb") for r in runs if r.get("peak_rss_mb")]
            med = statistics.median(rates) if rates else None
            out.setdefault(workload, {})[side] = {
                "rate": med, "min": min(rates, default=None), "max": max(rates, default=None), "n": len(rates),
                "vs_torch": round(med / base, 3) if med and base else None,
                "peak_rss_mb": statistics.median(rss) if rss else None,
                "cpu_pct": statistics.median([r.get("cpu_pct", 0) for r in runs])}
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variant", action="append", required=True)
    ap.add_argument("--workloads", default="mnist,minilm,smollm2")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--contend", action="store_true")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--out", default="bench-results/cpu_speed")
    args = ap.parse_args()
    os.chdir(ROOT)
    os.environ.setdefault("HF_HUB_CACHE", os.path.join(ROOT, "assets/hf/hub"))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    py = os.environ.get("PY", "assets/venv-torch/bin/python")
    variants = [parse_variant(v) for v in args.variant]
    os.makedirs(args.out, exist_ok=True)
    rows = []
    with open(os.path.join(args.out, "runs.jsonl"), "a") as log:
        for rnd in range(1, args.rounds + 1):
            for workload in args.workloads.split(","):
                sides = [("ours", v) for v in variants] + ([] if args.no_torch else [("torch", None)])
                for kind, v in sides:
                    waited = wait_quiet()
                    r = run_torch(workload, py, args.contend) if kind == "torch" else run_ours(workload, *v, args.contend)
                    r.update(workload=workload, round=rnd, waited_s=waited, contend=args.contend)
                    rows.append(r)
                    log.write(json.dumps(r) + "\n")
                    log.flush()
                    print(f"round {rnd} {workload:8} {r['side']:10} rate {r['rate']} rss {r.get('peak_rss_mb')} MB "
                          f"cpu {r.get('cpu_pct')} % rc {r['rc']}", file=sys.stderr, flush=True)
    result = summary(rows)
    json.dump(result, open(os.path.join(args.out, "summary.json"), "w"), indent=1)
    for workload, sides in result.items():
        for side, s in sides.items():
            print(f"{workload:8} {side:10} {s['rate'] or 0:10.1f} [{s['min'] or 0:.1f}-{s['max'] or 0:.1f}] "
                  f"x{s['vs_torch']} rss {s['peak_rss_mb']} MB cpu {s['cpu_pct']} %")


if __name__ == "__main__":
    main()
