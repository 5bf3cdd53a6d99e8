#!/usr/bin/env python3
"""Read a run directory with TensorBoard's own reader and check it against metrics.jsonl.

Usage: tb_read.py RUN_DIR

Loads every event file in RUN_DIR with TensorBoard's EventAccumulator (keeping all scalars;
like TensorBoard, it drops the points at step >= k logged before a SessionLog START at step k)
and prints {"tag": [[step, value], ...], ...} as JSON on stdout, non-finite values as null.

Then reads RUN_DIR/metrics.jsonl, keeps the last line for each (tag, step) (a resumed run
re-logs steps), and exits 1 with a message on stderr unless both hold the same tags and steps
and every value is equal once rounded to float32 (TensorBoard stores float32). A null value
in metrics.jsonl (how it writes NaN and infinities) must be non-finite in TensorBoard.

Needs the `tensorboard` package. Exit status: 0 match, 1 mismatch, 2 usage or read error.
"""

import json
import math
import os
import struct
import sys


def to_f32(x):
    """Round a float to the nearest float32, overflowing to +-inf like a C cast."""
    try:
        return struct.unpack("<f", struct.pack("<f", x))[0]
    except OverflowError:
        return math.copysign(math.inf, x)


def read_tensorboard(run_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(run_dir, size_guidance={"scalars": 0})
    acc.Reload()
    return {
        tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]
    }


def reject_constant(name):
    raise ValueError(f"{name} is not JSON")


def read_jsonl(path):
    """{tag: {step: value or None}}, the last line winning for a repeated (tag, step)."""
    out = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line, parse_constant=reject_constant)
                tag, step, value = rec["tag"], rec["step"], rec["value"]
            except (ValueError, KeyError, TypeError) as e:
                print(f"tb_read: {path}:{number}: bad line ({e}): {line!r}", file=sys.stderr)
                sys.exit(2)
            out.setdefault(tag, {})[step] = value
    return out


def compare(tb, expected):
    """A list of human-readable differences (empty when they agree)."""
    problems = []
    for tag in sorted(set(tb) | set(expected)):
        if tag not in tb:
            problems.append(f"tag {tag!r}: in metrics.jsonl, not in TensorBoard")
            continue
        if tag not in expected:
            problems.append(f"tag {tag!r}: in TensorBoard, not in metrics.jsonl")
            continue
        seen = {}
        for step, value in tb[tag]:
            if step in seen:
                problems.append(f"tag {tag!r} step {step}: TensorBoard has it twice")
            seen[step] = value
        for step in sorted(set(seen) | set(expected[tag])):
            if step not in seen:
                problems.append(f"tag {tag!r} step {step}: missing in TensorBoard")
            elif step not in expected[tag]:
                problems.append(f"tag {tag!r} step {step}: missing in metrics.jsonl")
            else:
                got, want = seen[step], expected[tag][step]
                ok = not math.isfinite(got) if want is None else got == to_f32(float(want))
                if not ok:
                    problems.append(
                        f"tag {tag!r} step {step}: TensorBoard {got!r}, metrics.jsonl {want!r}"
                    )
    return problems


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    run_dir = argv[1]
    if not os.path.isdir(run_dir):
        print(f"tb_read: {run_dir} is not a directory", file=sys.stderr)
        return 2
    tb = read_tensorboard(run_dir)
    printable = {
        tag: [[s, v if math.isfinite(v) else None] for s, v in points]
        for tag, points in tb.items()
    }
    print(json.dumps(printable, sort_keys=True))

    jsonl = os.path.join(run_dir, "metrics.jsonl")
    if not os.path.exists(jsonl):
        print(f"tb_read: {jsonl} not found", file=sys.stderr)
        return 2
    problems = compare(tb, read_jsonl(jsonl))
    if problems:
        print(f"tb_read: TensorBoard and metrics.jsonl differ ({len(problems)}):", file=sys.stderr)
        for p in problems[:20]:
            print("  " + p, file=sys.stderr)
        if len(problems) > 20:
            print(f"  ... and {len(problems) - 20} more", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
