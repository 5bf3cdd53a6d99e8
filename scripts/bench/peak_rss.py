#!/usr/bin/env python3
"""Runs a command and reports its memory and CPU use as one JSON line on stderr (stdlib only).

  peak_rss.py [--phase-file FILE] [--out JSON] -- COMMAND ARGS...

* `peak_rss_mb`: the whole process's peak RSS (getrusage of the child, as `/usr/bin/time -f %M`).
* `phase_peak_rss_mb` (with --phase-file): the peak RSS after FILE first has content (e.g. a run's
  `metrics.jsonl` after the first logged step): the kernel's high-water mark VmHWM is reset then
  through /proc/PID/clear_refs (Linux >= 4.0, needs the same user) and read every 20 ms until the
  process exits (the last read counts, so a peak in the final < 20 ms may be missed).
* `wall_s`, `user_s`, `sys_s`, `cpu_pct` ((user + sys) / wall: ~200 % for 2 busy threads; much less
  means the process waited for a CPU that something else used).
"""
import json
import os
import resource
import subprocess
import sys
import time


def vm_hwm_kb(pid):
    """VmHWM of `pid` in KiB, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def main(argv):
    phase_file, out = None, None
    while argv and argv[0] != "--":
        flag, value, argv = argv[0], argv[1], argv[2:]
        if flag == "--phase-file":
            phase_file = value
        elif flag == "--out":
            out = value
        else:
            sys.exit(f"unknown flag {flag}")
    cmd = argv[1:]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd)
    phase_peak, phase_start = None, None
    while proc.poll() is None:
        if phase_file and phase_start is None and os.path.exists(phase_file) and os.path.getsize(phase_file) > 0:
            try:
                with open(f"/proc/{proc.pid}/clear_refs", "w") as f:
                    f.write("5")
                phase_start = time.perf_counter() - t0
            except OSError:
                phase_file = None
        if phase_start is not None:
            hwm = vm_hwm_kb(proc.pid)
            if hwm is not None:
                phase_peak = hwm
        time.sleep(0.02)
    wall = time.perf_counter() - t0
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = {
        "rc": proc.returncode, "wall_s": round(wall, 3), "user_s": round(ru.ru_utime, 2), "sys_s": round(ru.ru_stime, 2),
        "cpu_pct": round(100 * (ru.ru_utime + ru.ru_stime) / wall, 1), "peak_rss_mb": round(ru.ru_maxrss / 1024, 1),
        "phase_peak_rss_mb": None if phase_peak is None else round(phase_peak / 1024, 1),
        "phase_start_s": None if phase_start is None else round(phase_start, 2),
        "loadavg_after": open("/proc/loadavg").read().split()[:3],
    }
    line = json.dumps(result)
    print(line, file=sys.stderr)
    if out:
        with open(out, "w") as f:
            f.write(line + "\n")
    sys.exit(proc.returncode)


if __name__ == "__main__":
    main(sys.argv[1:])
