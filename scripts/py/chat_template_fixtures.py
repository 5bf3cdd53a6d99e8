#!/usr/bin/env python3
"""Writes the chat-template fixtures of crates/trainer/src/data/chat.rs's tests.

1. The SmolLM2-135M-Instruct chat template, read from the GGUF metadata
   (`tokenizer.chat_template`), to crates/trainer/tests/data/smollm2_chat_template.jinja.
2. For it and for crates/trainer/tests/data/pycompat_chat_template.jinja (hand-written: Python
   string methods, raise_exception, loop controls, namespace, bos/eos), the renderings of a few
   conversations by Python's jinja2 the way transformers renders chat templates
   (ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True) with the loopcontrols
   extension and a raise_exception global), to crates/trainer/tests/data/chat_renders.json.

Usage: python3 scripts/py/chat_template_fixtures.py [GGUF]   (needs `pip install gguf jinja2`;
GGUF defaults to assets/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf, from scripts/fetch-assets.sh)
"""
import json
import os
import sys

import gguf
import jinja2
import jinja2.ext
import jinja2.sandbox

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "crates", "trainer", "tests", "data")
GGUF = os.path.join(ROOT, "assets", "smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")

CONVERSATIONS = [
    [{"role": "user", "content": "What is 2 + 2?"}],
    [
        {"role": "user", "content": "Name a whale."},
        {"role": "assistant", "content": "Moby Dick."},
    ],
    [
        {"role": "system", "content": "  You answer in one word.  "},
        {"role": "user", "content": " Capital of France? "},
        {"role": "assistant", "content": "Paris"},
        {"role": "user", "content": "#skip this one"},
        {"role": "assistant", "content": "  And of Italy: Rome.\n"},
    ],
    [{"role": "user", "content": "Unicode: ça va? 日本語 🐳\nSecond line."}],
]


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def environment():
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols]
    )
    env.globals["raise_exception"] = raise_exception
    return env


def gguf_template(path):
    reader = gguf.GGUFReader(path)
    field = reader.fields["tokenizer.chat_template"]
    return bytes(field.parts[field.data[0]]).decode("utf-8")


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else GGUF
    smollm2 = gguf_template(path)
    with open(os.path.join(DATA, "smollm2_chat_template.jinja"), "w", encoding="utf-8") as f:
        f.write(smollm2)
    with open(os.path.join(DATA, "pycompat_chat_template.jinja"), encoding="utf-8") as f:
        pycompat = f.read()
    env = environment()
    cases = []
    for name, source in [("smollm2_chat_template.jinja", smollm2), ("pycompat_chat_template.jinja", pycompat)]:
        template = env.from_string(source)
        for messages in CONVERSATIONS:
            for add_generation_prompt in (False, True):
                expected = template.render(
                    messages=messages,
                    add_generation_prompt=add_generation_prompt,
                    bos_token="<s>",
                    eos_token="</s>",
                )
                cases.append(
                    {
                        "template": name,
                        "messages": messages,
                        "add_generation_prompt": add_generation_prompt,
                        "expected": expected,
                    }
                )
    # A conversation the pycompat template refuses (roles do not alternate).
    try:
        env.from_string(pycompat).render(
            messages=[{"role": "assistant", "content": "hi"}], add_generation_prompt=False, bos_token="", eos_token=""
        )
        raise SystemExit("expected the pycompat template to refuse an assistant-first conversation")
    except jinja2.exceptions.TemplateError as e:
        refused = str(e)
    out = {"cases": cases, "refused": refused}
    with open(os.path.join(DATA, "chat_renders.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {len(cases)} renderings")


if __name__ == "__main__":
    main()
