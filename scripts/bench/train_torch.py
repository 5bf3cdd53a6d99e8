#!/usr/bin/env python3
"""PyTorch baseline for the throughput benchmarks: the same model, data, batch and optimizer as
the Rust side, timed over a fixed number of optimizer steps after a warm-up.

  digits   MLP 64-128-10 (ReLU), SGD lr 0.1 momentum 0.9, batch 64, the embedded 8x8 digits
  mnist    MLP 784-256-10 (ReLU), SGD lr 0.05 momentum 0.9, batch 128, MNIST (assets/mnist)
  minilm   all-MiniLM-L6-v2 + linear head, AdamW lr 5e-5, batch 16, max_len 64, sentiment
           sentences (assets/)

Prints one JSON object: {"task", "steps", "seconds", "samples_per_sec", "threads", "torch"}.
Usage: python scripts/bench/train_torch.py TASK [--steps N] [--warmup N] [--threads 2]
"""
import argparse
import gzip
import json
import os
import struct
import time

import torch
import torch.nn as nn

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
ASSETS = os.environ.get("ASSETS_DIR", os.path.join(ROOT, "assets"))


def digits():
    rows = gzip.open(os.path.join(ROOT, "crates/trainer/data/digits.csv.gz"), "rt").read().split()
    data = torch.tensor([[float(v) for v in r.split(",")] for r in rows])
    return data[:, :64] / 16.0, data[:, 64].long()


def idx(path):
    with open(path, "rb") as f:
        raw = f.read()
    magic, n = struct.unpack(">II", raw[:8])
    dims = [n] + list(struct.unpack(">" + "I" * ((magic & 0xFF) - 1), raw[8:8 + 4 * ((magic & 0xFF) - 1)]))
    start = 4 + 4 * len(dims)
    return torch.frombuffer(bytearray(raw[start:]), dtype=torch.uint8).reshape(dims)


def mnist():
    d = os.path.join(ASSETS, "mnist")
    x = idx(os.path.join(d, "train-images-idx3-ubyte")).reshape(-1, 784).float() / 255.0
    y = idx(os.path.join(d, "train-labels-idx1-ubyte")).long()
    return x, y


def mlp_loop(x, y, hidden, lr, batch, steps, warmup):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(x.shape[1], hidden), nn.ReLU(), nn.Linear(hidden, 10))
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    n = x.shape[0]
    perm, pos = torch.randperm(n), 0
    start = None
    for step in range(warmup + steps):
        if step == warmup:
            start = time.perf_counter()
        if pos + batch > n:
            perm, pos = torch.randperm(n), 0
        idx_ = perm[pos:pos + batch]
        pos += batch
        opt.zero_grad()
        loss = loss_fn(model(x[idx_]), y[idx_])
        loss.backward()
        opt.step()
        loss.item()  # the Rust loop reads the loss every step too (logging)
    return time.perf_counter() - start


def minilm_loop(batch, steps, warmup, max_len=64):
    from transformers import AutoModel, AutoTokenizer

    snap = os.path.join(ASSETS, "hf/hub/models--sentence-transformers--all-MiniLM-L6-v2/snapshots")
    path = os.path.join(snap, os.listdir(snap)[0])
    tok = AutoTokenizer.from_pretrained(path)
    enc = AutoModel.from_pretrained(path)
    head = nn.Linear(enc.config.hidden_size, 2)
    texts = []
    for name in ("amazon", "imdb", "yelp"):
        with open(os.path.join(ASSETS, "sentiment", f"{name}.json")) as f:
            texts += [r for r in json.load(f) if r.get("text")]
    params = [{"params": enc.parameters(), "lr": 5e-5}, {"params": head.parameters(), "lr": 5e-4}]
    opt = torch.optim.AdamW(params)
    loss_fn = nn.CrossEntropyLoss()
    start, pos = None, 0
    for step in range(warmup + steps):
        if step == warmup:
            start = time.perf_counter()
        rows = texts[pos:pos + batch]
        pos = (pos + batch) % (len(texts) - batch)
        b = tok([r["text"] for r in rows], padding="longest", truncation=True, max_length=max_len, return_tensors="pt")
        y = torch.tensor([int(r["class"]) for r in rows])
        out = enc(**b).last_hidden_state
        mask = b["attention_mask"].unsqueeze(-1).float()
        pooled = (out * mask).sum(1) / mask.sum(1)
        loss = loss_fn(head(pooled), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss.item()
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("task", choices=["digits", "mnist", "minilm"])
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.task == "digits":
        x, y = digits()
        batch, secs = 64, mlp_loop(x, y, 128, 0.1, 64, args.steps, args.warmup)
    elif args.task == "mnist":
        x, y = mnist()
        batch, secs = 128, mlp_loop(x, y, 256, 0.05, 128, args.steps, args.warmup)
    else:
        batch, secs = 16, minilm_loop(16, args.steps, args.warmup)
    print(json.dumps({"task": args.task, "steps": args.steps, "seconds": secs,
                      "samples_per_sec": batch * args.steps / secs, "threads": args.threads,
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
