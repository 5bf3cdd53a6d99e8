#!/usr/bin/env python3
"""Generates extra PyTorch / Hugging Face reference cases for schedule parity tests.

The shared cases (tests/data/torch, copied from shared/reference) cover 14 configurations; these
cover the remaining kinds and options (triangular2, asymmetric cycles, one-cycle variants, integer
T_mult restarts, plateau in max/abs mode, chained, SWALR alone and after a cosine, Hugging Face
inverse_sqrt and warmup_stable_decay). Same format and same driving loop as the shared cases:
for each t: record lr (and momentum); optimizer.step(); scheduler.step() (or step(metrics[t])).

Usage: python scripts/gen_reference.py OUT_DIR   (needs torch; transformers for the HF kinds)
"""
import json
import math
import os
import sys

import torch
from torch.optim import SGD, Adam
from torch.optim import lr_scheduler as L
from torch.optim.swa_utils import SWALR


def optimizer_for(section):
    p = [torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))]
    kw = {k: v for k, v in section.items() if k not in ("kind",)}
    if "betas" in kw:
        kw["betas"] = tuple(kw["betas"])
    return (SGD if section["kind"] == "sgd" else Adam)(p, **kw)


def momentum_of(opt):
    g = opt.param_groups[0]
    return g["betas"][0] if "betas" in g else g["momentum"]


def drive(name, optimizer, schedule, steps, make, metrics=None, with_momentum=False):
    opt = optimizer_for(optimizer)
    sch = make(opt)
    out = {"name": name, "source": f"torch {torch.__version__} (scripts/gen_reference.py)",
           "optimizer": optimizer, "schedule": schedule, "steps": steps, "lr": []}
    if with_momentum:
        out["momentum"] = []
    if metrics is not None:
        out["metrics"] = metrics
    for t in range(steps):
        out["lr"].append(opt.param_groups[0]["lr"])
        if with_momentum:
            out["momentum"].append(momentum_of(opt))
        opt.step()
        if metrics is not None:
            sch.step(metrics[t])
        else:
            sch.step()
    return out


class SwaAfter:
    """PyTorch's documented SWA pattern (torch.optim.swa_utils): both schedulers built up front,
    `scheduler.step()` after each of the first `swa_start` optimizer steps, `swa_scheduler.step()`
    after the later ones. Our `sequential` with the `swa` child at milestone `swa_start`."""

    def __init__(self, scheduler, swa_scheduler, swa_start):
        self.scheduler, self.swa_scheduler, self.swa_start, self.n = scheduler, swa_scheduler, swa_start, 0

    def step(self):
        (self.scheduler if self.n < self.swa_start else self.swa_scheduler).step()
        self.n += 1


def swa_cases():
    plain = {"kind": "sgd", "lr": 0.1}
    yield drive("swa_cos", plain, {"kind": "swa", "swa_lr": 0.01, "anneal_steps": 20, "anneal_strategy": "cos"}, 40,
                lambda o: SWALR(o, swa_lr=0.01, anneal_epochs=20, anneal_strategy="cos"))
    sgd = {"kind": "sgd", "lr": 0.1, "momentum": 0.9}
    yield drive("swa_linear", sgd, {"kind": "swa", "swa_lr": 0.03, "anneal_steps": 15, "anneal_strategy": "linear"},
                30, lambda o: SWALR(o, swa_lr=0.03, anneal_epochs=15, anneal_strategy="linear"))
    yield drive("swa_no_anneal", plain, {"kind": "swa", "swa_lr": 0.05, "anneal_steps": 0}, 10,
                lambda o: SWALR(o, swa_lr=0.05, anneal_epochs=0))
    # Cosine until step 40, then SWALR anneals (upwards) from the LR the cosine reached there.
    yield drive("sequential_cosine_swa", plain,
                {"kind": "sequential", "milestones": [40],
                 "schedules": [{"kind": "cosine", "t_max": 60},
                               {"kind": "swa", "swa_lr": 0.05, "anneal_steps": 10, "anneal_strategy": "cos"}]}, 70,
                lambda o: SwaAfter(L.CosineAnnealingLR(o, T_max=60), SWALR(o, swa_lr=0.05, anneal_epochs=10), 40))


def cases():
    yield from swa_cases()
    sgd = {"kind": "sgd", "lr": 0.1, "momentum": 0.9}
    yield drive("cyclic_triangular2", sgd,
                {"kind": "cyclic", "base_lr": 0.001, "max_lr": 0.1, "step_size_up": 10, "step_size_down": 30,
                 "mode": "triangular2", "base_momentum": 0.85, "max_momentum": 0.95}, 200,
                lambda o: L.CyclicLR(o, base_lr=0.001, max_lr=0.1, step_size_up=10, step_size_down=30,
                                     mode="triangular2", base_momentum=0.85, max_momentum=0.95),
                with_momentum=True)
    adam = {"kind": "adam", "lr": 0.001, "betas": [0.9, 0.999]}
    yield drive("one_cycle_linear_three_phase_adam", adam,
                {"kind": "one_cycle", "max_lr": 0.01, "total_steps": 150, "pct_start": 0.25,
                 "anneal_strategy": "linear", "three_phase": True, "div_factor": 10.0, "final_div_factor": 100.0}, 150,
                lambda o: L.OneCycleLR(o, max_lr=0.01, total_steps=150, pct_start=0.25, anneal_strategy="linear",
                                       three_phase=True, div_factor=10.0, final_div_factor=100.0),
                with_momentum=True)
    yield drive("one_cycle_epochs", sgd,
                {"kind": "one_cycle", "max_lr": 0.5, "epochs": 7, "steps_per_epoch": 13, "pct_start": 0.4}, 91,
                lambda o: L.OneCycleLR(o, max_lr=0.5, epochs=7, steps_per_epoch=13, pct_start=0.4),
                with_momentum=True)
    # pct_start · total_steps < 1: the first two phases end before step 0 (never used).
    yield drive("one_cycle_three_phase_short_warmup", sgd,
                {"kind": "one_cycle", "max_lr": 0.3, "total_steps": 10, "pct_start": 0.05, "three_phase": True}, 10,
                lambda o: L.OneCycleLR(o, max_lr=0.3, total_steps=10, pct_start=0.05, three_phase=True),
                with_momentum=True)
    plain = {"kind": "sgd", "lr": 0.1}
    yield drive("cosine_restarts_tmult3", plain,
                {"kind": "cosine_restarts", "t_0": 2, "t_mult": 3, "eta_min": 0.002}, 800,
                lambda o: L.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=3, eta_min=0.002))
    yield drive("cosine_past_t_max", plain, {"kind": "cosine", "t_max": 30, "eta_min": 0.01}, 100,
                lambda o: L.CosineAnnealingLR(o, T_max=30, eta_min=0.01))
    yield drive("polynomial_past_total", plain, {"kind": "polynomial", "total_iters": 20, "power": 0.5}, 40,
                lambda o: L.PolynomialLR(o, total_iters=20, power=0.5))
    yield drive("linear_decay", plain, {"kind": "linear", "start_factor": 1.0, "end_factor": 0.05, "total_iters": 37}, 60,
                lambda o: L.LinearLR(o, start_factor=1.0, end_factor=0.05, total_iters=37))
    yield drive("chained_exponential_step", plain,
                {"kind": "chained", "schedules": [{"kind": "exponential", "gamma": 0.98},
                                                  {"kind": "step", "step_size": 15, "gamma": 0.5}]}, 90,
                lambda o: L.ChainedScheduler([L.ExponentialLR(o, gamma=0.98), L.StepLR(o, step_size=15, gamma=0.5)]))
    # A metric that improves, stalls with noise, and rises: exercises patience, cooldown, eps.
    m = [0.5 + 0.01 * t if t < 20 else 0.7 + 0.004 * math.sin(t) for t in range(90)]
    yield drive("plateau_max_abs", plain,
                {"kind": "plateau", "mode": "max", "factor": 0.3, "patience": 4, "threshold": 0.002,
                 "threshold_mode": "abs", "cooldown": 1, "min_lr": 0.0005}, 90,
                lambda o: L.ReduceLROnPlateau(o, mode="max", factor=0.3, patience=4, threshold=0.002,
                                              threshold_mode="abs", cooldown=1, min_lr=0.0005), metrics=m)
    # min_lr above the base LR: PyTorch applies max(lr * factor, min_lr) only when it lowers the
    # LR, so the LR stays 0.1 (issue 13, item 15); the metric stalls to trigger reductions.
    stall = [1.0 - 0.05 * t if t < 5 else 0.8 for t in range(40)]
    yield drive("plateau_min_lr_above_base", plain,
                {"kind": "plateau", "factor": 0.5, "patience": 0, "min_lr": 10.0}, 40,
                lambda o: L.ReduceLROnPlateau(o, factor=0.5, patience=0, min_lr=10.0), metrics=stall)
    yield drive("warmup_step", plain,
                {"kind": "step", "step_size": 7, "gamma": 0.7, "warmup": {"steps": 12, "start_factor": 0.05}}, 60,
                lambda o: L.SequentialLR(o, [L.LinearLR(o, start_factor=0.05, end_factor=1.0, total_iters=12),
                                             L.StepLR(o, step_size=7, gamma=0.7)], milestones=[12]))
    try:
        from transformers.optimization import get_inverse_sqrt_schedule, get_wsd_schedule
    except ImportError:
        print("transformers not installed: skipping the Hugging Face cases", file=sys.stderr)
        return
    yield drive("inverse_sqrt", plain, {"kind": "inverse_sqrt", "num_warmup_steps": 10}, 80,
                lambda o: get_inverse_sqrt_schedule(o, num_warmup_steps=10))
    yield drive("inverse_sqrt_timescale", plain, {"kind": "inverse_sqrt", "num_warmup_steps": 5, "timescale": 20}, 60,
                lambda o: get_inverse_sqrt_schedule(o, num_warmup_steps=5, timescale=20))
    for wt, dt in [("linear", "cosine"), ("cosine", "1-sqrt"), ("1-sqrt", "linear")]:
        yield drive(f"wsd_{wt}_{dt}".replace("-", "_"), plain,
                    {"kind": "warmup_stable_decay", "num_warmup_steps": 10, "num_decay_steps": 25,
                     "num_training_steps": 70, "warmup_type": wt, "decay_type": dt, "min_lr_ratio": 0.1}, 90,
                    lambda o, wt=wt, dt=dt: get_wsd_schedule(o, num_warmup_steps=10, num_decay_steps=25,
                                                             num_training_steps=70, warmup_type=wt,
                                                             decay_type=dt, min_lr_ratio=0.1))


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "tests/data/torch-extra"
    os.makedirs(out_dir, exist_ok=True)
    for case in cases():
        with open(os.path.join(out_dir, case["name"] + ".json"), "w") as f:
            json.dump(case, f)
        print("wrote", case["name"])


if __name__ == "__main__":
    main()
