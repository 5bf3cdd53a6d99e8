#!/usr/bin/env python3
"""Runs a command and reports the peak GPU memory its process used, as nvidia-smi sees it (stdlib
only): the same measure for our binary and for PyTorch (CUDA context, caching allocator and
tensors together).

  gpu_mem.py --out JSON [--timeout S] -- COMMAND ARGS...

Polls `nvidia-smi --query-compute-apps=pid,used_memory` every 100 ms and keeps the largest
figure of the command's process or its children. Writes {"rc", "wall_s", "peak_gpu_mib"} to
JSON (peak_gpu_mib null when nvidia-smi never listed the process, e.g. inside a container whose
PID namespace hides it: then the whole GPU's used memory minus the figure before the start is
reported as peak_gpu_mib_device). The command's stdout and stderr pass through.
"""
import json
import os
import subprocess
import sys
import time


def smi(query):
    try:
        out = subprocess.run(["nvidia-smi", f"--query-{query}", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [[c.strip() for c in line.split(",")] for line in out.splitlines() if line.strip()]


def family(pid):
    """pid and its descendants (from /proc)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        out.add(p)
        todo.extend(children.get(p, []))
    return out


def device_used():
    rows = smi("gpu=memory.used")
    return sum(int(r[0]) for r in rows if r and r[0].isdigit())


def main(argv):
    out, timeout = None, None
    while argv and argv[0] != "--":
        flag, value, argv = argv[0], argv[1], argv[2:]
        if flag == "--out":
            out = value
        elif flag == "--timeout":
            timeout = float(value)
        else:
            sys.exit(f"unknown flag {flag}")
    cmd = argv[1:]
    base = device_used()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd)
    peak, peak_dev = None, 0
    while proc.poll() is None:
        if timeout and time.perf_counter() - t0 > timeout:
            proc.kill()
            break
        pids = family(proc.pid)
        used = [int(r[1]) for r in smi("compute-apps=pid,used_memory") if len(r) == 2 and r[0].isdigit()
                and int(r[0]) in pids and r[1].isdigit()]
        if used:
            peak = max(peak or 0, sum(used))
        peak_dev = max(peak_dev, device_used() - base)
        time.sleep(0.1)
    proc.wait()
    result = {"rc": proc.returncode, "wall_s": round(time.perf_counter() - t0, 2), "peak_gpu_mib": peak,
              "peak_gpu_mib_device": peak_dev}
    if out:
        with open(out, "w") as f:
            f.write(json.dumps(result) + "\n")
    print(json.dumps(result), file=sys.stderr)
    sys.exit(proc.returncode)


if __name__ == "__main__":
    main(sys.argv[1:])
