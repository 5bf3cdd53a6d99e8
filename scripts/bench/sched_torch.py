#!/usr/bin/env python3
"""Times PyTorch's scheduler.step() + get_last_lr() per step for the schedules of
crates/sched/benches/kinds.json (the same ones the criterion bench times in Rust).

Prints JSON {name: {"median_ns": .., "min_ns": .., "max_ns": ..}}. Needs torch (transformers for
the Hugging Face kinds; they are skipped without it).

Usage: python scripts/bench/sched_torch.py [--steps 20000] [--repeats 5]
"""
import argparse
import json
import os
import statistics
import sys
import time
import warnings

import torch
from torch.optim import SGD
from torch.optim import lr_scheduler as L

warnings.filterwarnings("ignore")
torch.set_num_threads(1)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def build(opt, s):
    """A PyTorch scheduler for one schedule section of our configs."""
    k = s["kind"]
    p = {key: v for key, v in s.items() if key not in ("kind", "warmup")}
    if k == "constant":
        inner = L.ConstantLR(opt, factor=p.get("factor", 1.0), total_iters=p.get("total_iters", 0))
    elif k == "step":
        inner = L.StepLR(opt, **p)
    elif k == "multistep":
        inner = L.MultiStepLR(opt, **p)
    elif k == "exponential":
        inner = L.ExponentialLR(opt, **p)
    elif k == "linear":
        inner = L.LinearLR(opt, **p)
    elif k == "polynomial":
        inner = L.PolynomialLR(opt, **p)
    elif k == "cosine":
        inner = L.CosineAnnealingLR(opt, T_max=p["t_max"], eta_min=p.get("eta_min", 0.0))
    elif k == "cosine_restarts":
        inner = L.CosineAnnealingWarmRestarts(opt, T_0=p["t_0"], T_mult=p.get("t_mult", 1), eta_min=p.get("eta_min", 0.0))
    elif k == "cyclic":
        inner = L.CyclicLR(opt, **p)
    elif k == "one_cycle":
        inner = L.OneCycleLR(opt, **p)
    elif k == "plateau":
        inner = L.ReduceLROnPlateau(opt, **{key: v for key, v in p.items() if key != "monitor"})
    elif k == "sequential":
        inner = L.SequentialLR(opt, [build(opt, c) for c in p["schedules"]], milestones=p["milestones"])
    elif k == "chained":
        inner = L.ChainedScheduler([build(opt, c) for c in p["schedules"]])
    elif k == "inverse_sqrt":
        from transformers.optimization import get_inverse_sqrt_schedule
        inner = get_inverse_sqrt_schedule(opt, **p)
    elif k == "warmup_stable_decay":
        from transformers.optimization import get_wsd_schedule
        inner = get_wsd_schedule(opt, **p)
    else:
        raise ValueError(k)
    w = s.get("warmup")
    if w:
        ramp = L.LinearLR(opt, start_factor=w.get("start_factor", 1 / 3), end_factor=1.0, total_iters=w["steps"])
        return L.SequentialLR(opt, [ramp, inner], milestones=[w["steps"]])
    return inner


def per_step_ns(schedule, steps):
    opt = SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9)
    sch = build(opt, schedule)
    plateau = isinstance(sch, L.ReduceLROnPlateau)
    start = time.perf_counter_ns()
    for i in range(steps):
        if plateau:
            sch.step(1.0)
            opt.param_groups[0]["lr"]
        else:
            sch.step()
            sch.get_last_lr()
    return (time.perf_counter_ns() - start) / steps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=5000)  # within one_cycle's total_steps
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    with open(os.path.join(ROOT, "crates/sched/benches/kinds.json")) as f:
        kinds = json.load(f)
    out = {}
    for k in kinds:
        try:
            runs = [per_step_ns(k["schedule"], args.steps) for _ in range(args.repeats)]
        except ImportError as e:
            print(f"skipping {k['name']}: {e}", file=sys.stderr)
            continue
        out[k["name"]] = {"median_ns": statistics.median(runs), "min_ns": min(runs), "max_ns": max(runs)}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
