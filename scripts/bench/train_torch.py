#!/usr/bin/env python3
"""PyTorch baseline for the throughput benchmarks: the same model, data, batch and optimizer as
the Rust side, timed over a fixed number of optimizer steps after a warm-up.

  digits   configs/constant.yaml: MLP 64-128-10 (ReLU), SGD lr 0.05 momentum 0.9, batch 64,
           the embedded 8x8 digits
  mnist    configs/mnist_one_cycle.yaml: MLP 784-256-10 (ReLU), SGD lr 0.2 momentum 0.9 Nesterov
           weight decay 1e-4, batch 128, MNIST (assets/mnist)
  minilm   configs/finetune_minilm_sentiment.yaml: all-MiniLM-L6-v2 (embeddings frozen) + linear
           head on mean pooling, AdamW (encoder lr 5e-5, head 1e-3, weight decay 0.01), gradient
           norm clipped to 1, batch 16, max_len 64, sentiment sentences (assets/)

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


def mlp_loop(x, y, hidden, batch, steps, warmup, **sgd):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(x.shape[1], hidden), nn.ReLU(), nn.Linear(hidden, 10))
    opt = torch.optim.SGD(model.parameters(), momentum=0.9, **sgd)
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
    for p in enc.embeddings.parameters():
        p.requires_grad_(False)
    trainable = [p for p in enc.parameters() if p.requires_grad]
    params = [{"params": trainable, "lr": 5e-5}, {"params": head.parameters(), "lr": 1e-3}]
    opt = torch.optim.AdamW(params, weight_decay=0.01)
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
        torch.nn.utils.clip_grad_norm_(trainable + list(head.parameters()), 1.0)
        opt.step()
        loss.item()
    secs = time.perf_counter() - start
    # Not timed: one evaluation of 200 held-out texts in batches of 100, as the Rust run ends
    # with (so that peak memory compares like with like).
    with torch.no_grad():
        held_out = texts[-200:]
        for i in range(0, len(held_out), 100):
            b = tok([r["text"] for r in held_out[i:i + 100]], padding="longest", truncation=True,
                    max_length=max_len, return_tensors="pt")
            out = enc(**b).last_hidden_state
            mask = b["attention_mask"].unsqueeze(-1).float()
            head((out * mask).sum(1) / mask.sum(1)).argmax(-1)
    return secs


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
        batch, secs = 64, mlp_loop(x, y, 128, 64, args.steps, args.warmup, lr=0.05)
    elif args.task == "mnist":
        x, y = mnist()
        batch, secs = 128, mlp_loop(x, y, 256, 128, args.steps, args.warmup, lr=0.2, nesterov=True, weight_decay=1e-4)
    else:
        batch, secs = 16, minilm_loop(16, args.steps, args.warmup)
    print(json.dumps({"task": args.task, "steps": args.steps, "seconds": secs,
                      "samples_per_sec": batch * args.steps / secs, "threads": args.threads,
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
