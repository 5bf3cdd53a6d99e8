#!/usr/bin/env python3
"""PyTorch on the GPU: the baseline of scripts/gpu-check.sh's throughput table. The same models,
data, batches and optimizers as train_torch.py (the CPU baseline, whose data loaders it reuses),
on `--device`, in `--precision` f32 or bf16/f16 autocast (f32 master weights, as our
`train.precision`), timed over `--steps` optimizer steps after `--warmup`.

  digits   MLP 64-128-10, SGD lr 0.05 momentum 0.9, batch 64 (configs/constant.yaml)
  mnist    MLP 784-256-10, SGD lr 0.2 Nesterov, weight decay 1e-4, batch 128 (configs/mnist_one_cycle.yaml)
  minilm   all-MiniLM-L6-v2 + linear head, AdamW, clip 1.0, batch 16, max_len 64
           (configs/finetune_minilm_sentiment.yaml)

Batches are gathered on the host and copied to the device each step, as our loader does.
Prints one JSON object: task, precision, steps, seconds, samples_per_sec, tokens_per_sec (minilm:
padded tokens), max_memory_allocated_mib (torch.cuda.max_memory_allocated: tensors only; the
process total, with the CUDA context and the cache, is what gpu_mem.py measures for both sides).
Usage: python scripts/bench/torch_gpu.py TASK [--steps N] [--warmup N] [--precision f32|bf16|f16]
                                             [--device cuda:0] [--out FILE]
"""
import argparse
import contextlib
import json
import os
import sys
import time

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_torch  # noqa: E402  (digits(), mnist(), ASSETS)

DTYPES = {"bf16": torch.bfloat16, "f16": torch.float16}


def autocast(device, precision):
    if precision == "f32":
        return contextlib.nullcontext()
    return torch.autocast(device_type="cuda", dtype=DTYPES[precision])


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def mlp(device, precision, x, y, hidden, batch, steps, warmup, **sgd):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(x.shape[1], hidden), nn.ReLU(), nn.Linear(hidden, 10)).to(device)
    opt = torch.optim.SGD(model.parameters(), momentum=0.9, **sgd)
    scaler = torch.amp.GradScaler("cuda", enabled=precision == "f16")
    loss_fn = nn.CrossEntropyLoss()
    n = x.shape[0]
    perm, pos, start = torch.randperm(n), 0, None
    for step in range(warmup + steps):
        if step == warmup:
            sync(device)
            start = time.perf_counter()
        if pos + batch > n:
            perm, pos = torch.randperm(n), 0
        i = perm[pos:pos + batch]
        pos += batch
        xb, yb = x[i].to(device), y[i].to(device)
        opt.zero_grad()
        with autocast(device, precision):
            loss = loss_fn(model(xb), yb)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        loss.item()  # our loop reads the loss every step (logging)
    sync(device)
    return time.perf_counter() - start, 0


def minilm(device, precision, batch, steps, warmup, max_len=64):
    from transformers import AutoModel, AutoTokenizer

    snap = os.path.join(train_torch.ASSETS, "hf/hub/models--sentence-transformers--all-MiniLM-L6-v2/snapshots")
    path = os.path.join(snap, os.listdir(snap)[0])
    tok = AutoTokenizer.from_pretrained(path)
    enc = AutoModel.from_pretrained(path).to(device)
    head = nn.Linear(enc.config.hidden_size, 2).to(device)
    texts = []
    for name in ("amazon", "imdb", "yelp"):
        with open(os.path.join(train_torch.ASSETS, "sentiment", f"{name}.json")) as f:
            texts += [r for r in json.load(f) if r.get("text")]
    for p in enc.embeddings.parameters():
        p.requires_grad_(False)
    trainable = [p for p in enc.parameters() if p.requires_grad]
    opt = torch.optim.AdamW([{"params": trainable, "lr": 5e-5}, {"params": head.parameters(), "lr": 1e-3}],
                            weight_decay=0.01)
    scaler = torch.amp.GradScaler("cuda", enabled=precision == "f16")
    loss_fn = nn.CrossEntropyLoss()
    start, pos, tokens = None, 0, 0
    for step in range(warmup + steps):
        if step == warmup:
            sync(device)
            start, tokens = time.perf_counter(), 0
        rows = texts[pos:pos + batch]
        pos = (pos + batch) % (len(texts) - batch)
        b = tok([r["text"] for r in rows], padding="longest", truncation=True, max_length=max_len,
                return_tensors="pt").to(device)
        y = torch.tensor([int(r["class"]) for r in rows], device=device)
        tokens += b["input_ids"].numel()
        with autocast(device, precision):
            out = enc(**b).last_hidden_state
            mask = b["attention_mask"].unsqueeze(-1).to(out.dtype)
            loss = loss_fn(head((out * mask).sum(1) / mask.sum(1)), y)
        opt.zero_grad()
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(trainable + list(head.parameters()), 1.0)
        scaler.step(opt)
        scaler.update()
        loss.item()
    sync(device)
    return time.perf_counter() - start, tokens


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("task", choices=["digits", "mnist", "minilm"])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--precision", choices=["f32", "bf16", "f16"], default="f32")
    ap.add_argument("--device", default="cuda:0")
    ap.add_argument("--out", help="also write the JSON object to this file")
    args = ap.parse_args()
    device = torch.device(args.device)
    # f32 matmuls in full f32, as candle's default (no TF32).
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    if args.task == "digits":
        x, y = train_torch.digits()
        batch = 64
        secs, tokens = mlp(device, args.precision, x, y, 128, batch, args.steps, args.warmup, lr=0.05)
    elif args.task == "mnist":
        x, y = train_torch.mnist()
        batch = 128
        secs, tokens = mlp(device, args.precision, x, y, 256, batch, args.steps, args.warmup,
                           lr=0.2, nesterov=True, weight_decay=1e-4)
    else:
        batch = 16
        secs, tokens = minilm(device, args.precision, batch, args.steps, args.warmup)
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    line = json.dumps({"task": args.task, "precision": args.precision, "steps": args.steps, "seconds": secs,
                      "samples_per_sec": batch * args.steps / secs,
                      "tokens_per_sec": tokens / secs if tokens else None,
                      "max_memory_allocated_mib": peak, "device": str(device),
                      "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
                      "torch": torch.__version__})
    print(line)
    if args.out:
        with open(args.out, "w") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    main()
