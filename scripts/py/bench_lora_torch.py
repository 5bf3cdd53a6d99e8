#!/usr/bin/env python3
"""PyTorch + PEFT reference speed for the causal-LM fine-tune and for `generate`.

Loads SmolLM2 (or any llama GGUF) with transformers from the GGUF file, every tensor dequantized
to f32, optionally keeps only the first N blocks, and either

  * trains a PEFT LoRA adapter (AdamW, lr 1e-4; `--rank 0` trains the whole model instead) on
    non-overlapping token blocks of `--seq-len` from `--text FILE` (tokenized without special
    tokens, as our `data: {kind: text}`; labels = inputs, so transformers predicts seq_len - 1
    tokens per block) or on random token ids when no file is given, or
  * with `--generate N`, measures greedy `model.generate` (KV cache) for N new tokens after
    `--prompt`.

Prints one JSON object on stdout. Throughput is measured after `--warmup-steps`.
Memory (MiB): `rss_after_import_mb` is the process after importing torch + transformers (~550 MiB:
the CUDA build's libraries), `load_peak_rss_mb` the peak while loading (getrusage), and
`peak_rss_mb` the peak RSS of the measured phase: getrusage's ru_maxrss after the kernel's
high-water mark was reset through /proc/self/clear_refs right before the phase (Linux resets
ru_maxrss with it; `peak_rss_reset` false where that failed, and the figure then includes loading).
With --layers N only the first N blocks are built and loaded (`num_hidden_layers=N`: the same
weights as `model.model.layers[:N]`, without holding the whole model).

Run with the venv made by scripts/py/setup-torch-venv.sh, e.g.
  assets/venv-torch/bin/python scripts/py/bench_lora_torch.py --gguf assets/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf \
      --layers 30 --seq-len 256 --batch 4 --rank 8 --alpha 16 --targets q_proj,v_proj \
      --steps 20 --warmup-steps 3 --threads 2 --text assets/text/moby-dick.txt
  assets/venv-torch/bin/python scripts/py/bench_lora_torch.py --generate 64 --threads 2
"""
import argparse
import gc
import json
import os
import resource
import sys
import time

DEFAULT_GGUF = os.path.join(os.path.dirname(__file__), "..", "..", "assets", "smollm2",
                            "SmolLM2-135M-Instruct.Q4_1.gguf")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gguf", default=DEFAULT_GGUF, help="GGUF file (default: assets/smollm2/…Q4_1.gguf)")
    p.add_argument("--layers", type=int, default=None, help="keep only the first N blocks")
    p.add_argument("--seq-len", type=int, default=256)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--rank", type=int, default=8, help="LoRA r; 0 = full fine-tune (no PEFT)")
    p.add_argument("--alpha", type=float, default=16.0)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--targets", default="q_proj,v_proj", help="comma-separated target modules")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--steps", type=int, default=20, help="measured steps (after warmup)")
    p.add_argument("--warmup-steps", type=int, default=3)
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    p.add_argument("--text", default=None, help="text file for token blocks (default: random ids)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--generate", type=int, default=None, metavar="N",
                   help="measure greedy generate of N new tokens instead of training")
    p.add_argument("--prompt", default="The capital of France is")
    p.add_argument("--repeats", type=int, default=3, help="generate: timed repeats (median reported)")
    return p.parse_args(argv)


def rss_mb():
    """Current RSS in MiB (from /proc/self/statm)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / (1 << 20)


def reset_peak_rss():
    """Frees malloc's cached memory and resets the kernel's RSS high-water mark (Linux >= 4.0),
    which getrusage's ru_maxrss reports too; returns whether the reset worked."""
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb():
    """ru_maxrss of this process in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_gguf(torch, gguf, layers):
    """transformers model (f32, dequantized) + tokenizer from a GGUF file, truncated to `layers` blocks."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    d, name = os.path.split(os.path.abspath(gguf))
    tok = AutoTokenizer.from_pretrained(d, gguf_file=name)
    # num_hidden_layers=N builds only the first N blocks (the GGUF's other blocks are skipped):
    # same weights as truncating the full model, without holding all of it in memory.
    extra = {} if layers is None else {"num_hidden_layers": layers}
    model, info = AutoModelForCausalLM.from_pretrained(d, gguf_file=name, dtype=torch.float32,
                                                       output_loading_info=True, **extra)
    if info["missing_keys"]:
        sys.exit(f"{gguf}: no weights for {sorted(info['missing_keys'])[:3]} … (--layers {layers} above the GGUF's blocks?)")
    return model, tok


def token_blocks(torch, tok, args, vocab):
    """[n_blocks, seq_len] int64: non-overlapping blocks of the text file's ids, or random ids."""
    if args.text is None:
        g = torch.Generator().manual_seed(args.seed)
        n = args.batch * (args.steps + args.warmup_steps)
        return torch.randint(0, vocab, (n, args.seq_len), generator=g), "random"
    with open(args.text, encoding="utf-8") as f:
        ids = tok(f.read(), add_special_tokens=False)["input_ids"]
    n = len(ids) // args.seq_len
    if n == 0:
        sys.exit(f"{args.text}: {len(ids)} tokens, fewer than one block of {args.seq_len}")
    return torch.tensor(ids[: n * args.seq_len], dtype=torch.long).view(n, args.seq_len), args.text


def wrap_lora(model, args):
    """PEFT LoRA around the model (or the model itself, all trainable, for --rank 0)."""
    if args.rank == 0:
        return model
    from peft import LoraConfig, get_peft_model

    cfg = LoraConfig(r=args.rank, lora_alpha=args.alpha, lora_dropout=args.dropout, bias="none",
                     target_modules=[t for t in args.targets.split(",") if t], task_type="CAUSAL_LM")
    return get_peft_model(model, cfg)


def train(torch, args):
    t0 = time.perf_counter()
    model, tok = load_gguf(torch, args.gguf, args.layers)
    load_s = time.perf_counter() - t0
    model = wrap_lora(model, args)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr)
    blocks, source = token_blocks(torch, tok, args, model.config.vocab_size)
    load_peak = peak_rss_mb()
    phase_reset = reset_peak_rss()
    rss_before = rss_mb()
    step_times, losses = [], []
    total = args.warmup_steps + args.steps
    for step in range(total):
        idx = [(step * args.batch + i) % blocks.shape[0] for i in range(args.batch)]
        x = blocks[idx]
        s = time.perf_counter()
        loss = model(input_ids=x, labels=x).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        step_times.append(time.perf_counter() - s)
        losses.append(loss.item())
    measured = step_times[args.warmup_steps:]
    tokens = args.batch * args.seq_len * len(measured)
    return {
        "mode": "train", "framework": f"torch {torch.__version__} + peft", "gguf": os.path.basename(args.gguf),
        "layers": model.config.num_hidden_layers, "seq_len": args.seq_len, "batch": args.batch,
        "rank": args.rank, "alpha": args.alpha, "targets": args.targets if args.rank else "all (full fine-tune)",
        "threads": torch.get_num_threads(), "data": source, "blocks": blocks.shape[0],
        "steps": len(measured), "warmup_steps": args.warmup_steps,
        "trainable_params": sum(p.numel() for p in params),
        "total_params": sum(p.numel() for p in model.parameters()),
        "tokens_per_sec": tokens / sum(measured) if measured else None,
        "sec_per_step": sum(measured) / len(measured) if measured else None,
        "loss_first": losses[0], "loss_last": losses[-1],
        "load_s": load_s, "rss_after_import_mb": args.rss_after_import, "load_peak_rss_mb": load_peak,
        "rss_before_train_mb": rss_before, "peak_rss_mb": peak_rss_mb(), "peak_rss_reset": phase_reset,
    }


def generate(torch, args):
    model, tok = load_gguf(torch, args.gguf, args.layers)
    model.eval()
    ids = tok(args.prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
    n = args.generate

    def run(k):
        s = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=k, min_new_tokens=k,
                                 do_sample=False, use_cache=True, pad_token_id=tok.eos_token_id)
        return time.perf_counter() - s, out[0, ids.shape[1]:]

    run(min(n, 4))  # warmup
    load_peak = peak_rss_mb()
    phase_reset = reset_peak_rss()
    first = sorted(run(1)[0] for _ in range(args.repeats))[args.repeats // 2]
    runs = [run(n) for _ in range(args.repeats)]
    full = sorted(t for t, _ in runs)[args.repeats // 2]
    new_ids = runs[0][1].tolist()
    return {
        "mode": "generate", "framework": f"torch {torch.__version__} + transformers", "gguf": os.path.basename(args.gguf),
        "layers": model.config.num_hidden_layers, "threads": torch.get_num_threads(), "prompt": args.prompt,
        "prompt_tokens": ids.shape[1], "new_tokens": len(new_ids), "repeats": args.repeats,
        "tokens_per_sec": len(new_ids) / full, "total_s": full, "first_token_s": first,
        "decode_tokens_per_sec": (len(new_ids) - 1) / (full - first) if len(new_ids) > 1 and full > first else None,
        "continuation_ids": new_ids, "continuation": tok.decode(new_ids),
        "rss_after_import_mb": args.rss_after_import, "load_peak_rss_mb": load_peak,
        "peak_rss_mb": peak_rss_mb(), "peak_rss_reset": phase_reset,
    }


def main(argv):
    args = parse_args(argv)
    import torch
    import transformers  # noqa: F401  (imported here so that rss_after_import_mb counts it)

    args.rss_after_import = rss_mb()
    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    torch.manual_seed(args.seed)
    result = generate(torch, args) if args.generate is not None else train(torch, args)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
