#!/usr/bin/env python3
"""Checks our `export --format peft|merged` output with the real PEFT / transformers loaders.

  check_export.py peft DIR --gguf FILE [--layers N] [--prompt TEXT]
      transformers model from the GGUF (f32, first N blocks), `peft.PeftModel.from_pretrained(base, DIR)`;
      checks that every adapter tensor of the model was loaded from DIR/adapter_model.safetensors
      (PEFT itself only warns about missing keys and leaves them at their init: B = 0, no effect),
      and prints the logits at the last prompt position (first 5 values, argmax), and how much the
      adapter changes them.
  check_export.py merged DIR [--prompt TEXT] [--max-new-tokens K]
      `AutoModelForCausalLM.from_pretrained(DIR)` + `AutoTokenizer.from_pretrained(DIR)`; prints the
      prompt's token ids, the same logits, and a greedy continuation of K tokens.
  check_export.py compare PEFT_DIR MERGED_DIR --gguf FILE [--layers N] [--tol T]
      max |logit difference| (all positions) between the PEFT-loaded and the merged model on a few
      prompts, fed the same ids (from the GGUF's tokenizer); exits 1 when above --tol.

  check_export.py demo OUT --gguf FILE [--layers N] [--rank R] [--alpha A] [--targets q_proj,v_proj]
      writes what PEFT and transformers themselves produce, as a reference for our exporter:
      OUT/peft (`save_pretrained` of a LoRA adapter with random non-zero A and B) and OUT/merged
      (`merge_and_unload().save_pretrained` + the tokenizer's `save_pretrained`).

Prompts are tokenized without special tokens. Prints one JSON object; exit 2 on a bad export.
Run with assets/venv-torch/bin/python (scripts/py/setup-torch-venv.sh).
"""
import argparse
import json
import os
import sys

import torch

PROMPTS = [
    "The capital of France is",
    "Call me Ishmael. Some years ago—never mind how long precisely—",
    "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
    "<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n<|im_start|>assistant\n",
]


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="mode", required=True)
    a = sub.add_parser("peft", help="load a PEFT adapter dir onto the GGUF base")
    a.add_argument("dir")
    b = sub.add_parser("merged", help="load a merged Hugging Face model dir")
    b.add_argument("dir")
    b.add_argument("--max-new-tokens", type=int, default=12)
    c = sub.add_parser("compare", help="PEFT-loaded vs merged logits")
    c.add_argument("peft_dir")
    c.add_argument("merged_dir")
    c.add_argument("--tol", type=float, default=None, help="exit 1 when the max difference exceeds it")
    d = sub.add_parser("demo", help="write a PEFT adapter and a merged model made by PEFT itself")
    d.add_argument("out")
    d.add_argument("--rank", type=int, default=8)
    d.add_argument("--alpha", type=float, default=16.0)
    d.add_argument("--targets", default="q_proj,v_proj")
    d.add_argument("--seed", type=int, default=0)
    for s in (a, c, d):
        s.add_argument("--gguf", required=True, help="the base model's GGUF file")
        s.add_argument("--layers", type=int, default=None, help="keep only the first N blocks of the base")
    for s in (a, b):
        s.add_argument("--prompt", default=PROMPTS[0])
    for s in (a, b, c, d):
        s.add_argument("--threads", type=int, default=2)
    return p.parse_args(argv)


def fail(msg, **extra):
    print(json.dumps({"ok": False, "error": msg, **extra}, indent=1))
    sys.exit(2)


def load_gguf_base(gguf, layers):
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
        fail(f"{gguf}: no weights for {sorted(info['missing_keys'])[:3]} … (--layers {layers} above the GGUF's blocks?)")
    return model.eval(), tok


def load_peft(base, adapter_dir):
    """PeftModel on `base`; fails when the file's tensors and the model's adapter tensors differ."""
    from peft import PeftModel, get_peft_model_state_dict
    from safetensors.torch import load_file

    path = os.path.join(adapter_dir, "adapter_model.safetensors")
    if not os.path.isfile(path):
        fail(f"{path} does not exist")
    model = PeftModel.from_pretrained(base, adapter_dir).eval()
    in_file = load_file(path)
    in_model = get_peft_model_state_dict(model)  # keys as PEFT saves them
    missing = sorted(set(in_model) - set(in_file))
    unexpected = sorted(set(in_file) - set(in_model))
    if missing or unexpected:
        fail("adapter tensors do not match the model's", missing=missing[:20], n_missing=len(missing),
             unexpected=unexpected[:20], n_unexpected=len(unexpected), expected_example=sorted(in_model)[:4])
    bad_shape = [k for k in in_file if in_file[k].shape != in_model[k].shape]
    if bad_shape:
        fail("adapter tensor shapes differ", keys={k: [list(in_file[k].shape), list(in_model[k].shape)]
                                                   for k in bad_shape[:10]})
    diff = max(float((in_file[k].float() - in_model[k].float()).abs().max()) for k in in_file)
    return model, {"adapter_tensors": len(in_file), "adapter_loaded_max_abs_diff": diff,
                   "adapter_config": json.load(open(os.path.join(adapter_dir, "adapter_config.json")))}


def ids_of(tok, text):
    return tok(text, add_special_tokens=False, return_tensors="pt")["input_ids"]


def logits_of(model, ids):
    with torch.inference_mode():
        return model(input_ids=ids).logits[0].float()


def last_summary(logits):
    last = logits[-1]
    top = torch.topk(last, 5)
    return {"logits_first5": [round(float(v), 6) for v in last[:5]], "argmax": int(last.argmax()),
            "argmax_logit": round(float(last.max()), 6), "top5_ids": top.indices.tolist(),
            "top5_logits": [round(float(v), 6) for v in top.values]}


def mode_peft(args):
    base, tok = load_gguf_base(args.gguf, args.layers)
    model, info = load_peft(base, args.dir)
    ids = ids_of(tok, args.prompt)
    logits = logits_of(model, ids)
    with model.disable_adapter():
        base_logits = logits_of(model, ids)
    effect = float((logits - base_logits).abs().max())
    out = {"ok": True, "mode": "peft", "dir": args.dir, "layers": base.config.num_hidden_layers,
           "prompt": args.prompt, "ids": ids[0].tolist(), **last_summary(logits),
           "adapter_effect_max_abs_logit": effect, **info}
    if effect == 0.0:
        out["warning"] = "the adapter does not change the logits (all lora_B zero?)"
    return out


def mode_merged(args):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(args.dir)
    model = AutoModelForCausalLM.from_pretrained(args.dir, dtype=torch.float32).eval()
    ids = ids_of(tok, args.prompt)
    logits = logits_of(model, ids)
    with torch.inference_mode():
        gen = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=args.max_new_tokens,
                             do_sample=False, use_cache=True, pad_token_id=tok.eos_token_id)
    new = gen[0, ids.shape[1]:].tolist()
    return {"ok": True, "mode": "merged", "dir": args.dir, "model_type": model.config.model_type,
            "architectures": model.config.architectures, "layers": model.config.num_hidden_layers,
            "tie_word_embeddings": model.config.tie_word_embeddings,
            "prompt": args.prompt, "ids": ids[0].tolist(),
            "ids_with_default_special_tokens": tok(args.prompt)["input_ids"],
            **last_summary(logits), "continuation_ids": new, "continuation": tok.decode(new),
            "has_chat_template": bool(getattr(tok, "chat_template", None))}


def mode_compare(args):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base, tok = load_gguf_base(args.gguf, args.layers)
    peft_model, info = load_peft(base, args.peft_dir)
    merged = AutoModelForCausalLM.from_pretrained(args.merged_dir, dtype=torch.float32).eval()
    merged_tok = AutoTokenizer.from_pretrained(args.merged_dir)
    rows = []
    for text in PROMPTS:
        ids = ids_of(tok, text)
        a, b = logits_of(peft_model, ids), logits_of(merged, ids)
        if a.shape != b.shape:
            fail("logit shapes differ", prompt=text, peft=list(a.shape), merged=list(b.shape))
        rows.append({"prompt": text, "tokens": ids.shape[1], "max_abs_diff": float((a - b).abs().max()),
                     "argmax_equal": bool((a.argmax(-1) == b.argmax(-1)).all()),
                     "merged_tokenizer_ids_equal": ids_of(merged_tok, text)[0].tolist() == ids[0].tolist()})
    worst = max(r["max_abs_diff"] for r in rows)
    out = {"ok": args.tol is None or worst <= args.tol, "mode": "compare", "max_abs_diff": worst,
           "tol": args.tol, "prompts": rows, **info}
    return out


def plain_copy(model):
    """The same weights in a model without the GGUF marks: a GGUF-loaded model keeps
    `config.quantization_config = {quant_method: gguf, ...}` and an `hf_quantizer` (though its weights are
    f32), and transformers' save_pretrained refuses it ("quantized with gguf and is not serializable")."""
    from transformers import AutoModelForCausalLM

    d = model.config.to_dict()
    d.pop("quantization_config", None)
    cfg = type(model.config).from_dict(d)
    fresh = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    fresh.load_state_dict(model.state_dict())
    fresh.generation_config = model.generation_config
    return fresh.eval()


def mode_demo(args):
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(args.seed)
    base, tok = load_gguf_base(args.gguf, args.layers)
    cfg = LoraConfig(r=args.rank, lora_alpha=args.alpha, target_modules=args.targets.split(","),
                     lora_dropout=0.0, bias="none", task_type="CAUSAL_LM")
    model = get_peft_model(base, cfg)
    with torch.no_grad():  # B is zero at init: give the adapter an effect
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0.0, 0.02)
    peft_dir, merged_dir = os.path.join(args.out, "peft"), os.path.join(args.out, "merged")
    model.save_pretrained(peft_dir)
    merged = plain_copy(model.merge_and_unload())
    merged.save_pretrained(merged_dir)
    tok.save_pretrained(merged_dir)
    return {"ok": True, "mode": "demo", "peft_dir": peft_dir, "merged_dir": merged_dir,
            "peft_files": sorted(os.listdir(peft_dir)), "merged_files": sorted(os.listdir(merged_dir))}


def main(argv):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    out = {"peft": mode_peft, "merged": mode_merged, "compare": mode_compare, "demo": mode_demo}[args.mode](args)
    print(json.dumps(out, indent=1, ensure_ascii=False))
    sys.exit(0 if out["ok"] else 1)


if __name__ == "__main__":
    main(sys.argv[1:])
