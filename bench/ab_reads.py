"""Two checkouts' reads side by side, interleaved: the in-process A/B the issue-24 changes are
kept or dropped by.

    python bench/ab_reads.py BASE_DIR [HEAD_DIR] [--rounds 8] [--count 50] [--reads NAME,NAME]

``BASE_DIR`` and ``HEAD_DIR`` (default: this checkout) are two working trees (``git worktree
add``) sharing a virtualenv. Each gets a process of its own (``config.embedded --ephemeral``: its
own PostgreSQL and Redis) that loads ``bench/read_set.py`` from this checkout into that
checkout's code, makes its data and then waits. Every round asks each side in turn, the order
swapped from round to round, for ``count`` requests of each read: one side runs while the other
is idle, so a change in the machine's load between rounds moves both alike. Two separate runs of
``bench/profile_reads.py`` a minute apart differed by up to 30 % on this box; this prints each
read's median milliseconds per request on both sides and the median of the rounds' ratios."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def serve() -> None:
    """In a checkout (the working directory): prepare the reads, then time what is asked for."""
    root = Path.cwd()
    sys.path.insert(0, str(root))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    read_set = _read_set()  # sets the throttle before the settings load
    from bench.profile_data import ready_database

    ready_database()
    reads = read_set.prepare("ab-reads")  # this checkout's read set, on the other checkout's code
    for read in reads.values():
        for _ in range(10):
            assert read().status_code == 200
    print("ready", flush=True)
    for line in sys.stdin:
        name, count = line.rstrip("\n").rsplit("\t", 1)
        read = reads[name]
        started = time.perf_counter()
        for _ in range(int(count)):
            status = read().status_code
        elapsed = time.perf_counter() - started
        assert status == 200, f"{name}: {status}"
        print(f"{elapsed / int(count) * 1000:.4f}", flush=True)


def _option(name: str, default: str) -> str:
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


def main() -> None:
    if "--serve" in sys.argv:
        serve()
        return
    values = {_option(flag, "") for flag in ("--rounds", "--count", "--reads")}
    dirs = [a for a in sys.argv[1:] if not a.startswith("--") and a not in values]
    if not dirs:
        raise SystemExit(__doc__)
    base, head = Path(dirs[0]).resolve(), Path(dirs[1] if len(dirs) > 1 else HERE).resolve()
    rounds, count = int(_option("--rounds", "8")), int(_option("--count", "50"))
    python = sys.executable
    sides = {}
    for label, root in (("base", base), ("head", head)):
        sides[label] = subprocess.Popen(
            [python, "-m", "config.embedded", "--ephemeral", "--", python, str(HERE / "bench" / "ab_reads.py"),
             "--serve"], cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
    # names are separated by commas, and a name may hold one ("status fragment, processing (page)")
    names = ([n for n in _read_set().NAMES if n in _option("--reads", "")] if "--reads" in sys.argv
             else list(_read_set().NAMES))
    times: dict[str, dict[str, list[float]]] = {name: {"base": [], "head": []} for name in names}
    try:
        for label, proc in sides.items():
            while (line := proc.stdout.readline()) and line.strip() != "ready":
                pass
            if not line:
                raise SystemExit(f"the {label} side did not start")
        for round_ in range(rounds):
            order = ("base", "head") if round_ % 2 == 0 else ("head", "base")
            for name in names:
                for label in order:
                    proc = sides[label]
                    proc.stdin.write(f"{name}\t{count}\n")
                    proc.stdin.flush()
                    times[name][label].append(float(proc.stdout.readline()))
    finally:
        for proc in sides.values():
            proc.stdin.close()
        for proc in sides.values():
            proc.wait(timeout=120)
    print(f"base {base}\nhead {head}\n{rounds} rounds of {count} requests a read, each side in turn\n")
    print("| read | base ms | head ms | head / base (median of rounds) |\n| --- | --- | --- | --- |")
    for name in names:
        b, h = times[name]["base"], times[name]["head"]
        ratio = statistics.median(x / y for x, y in zip(h, b, strict=True))
        print(f"| {name} | {statistics.median(b):.2f} | {statistics.median(h):.2f} | {ratio:.2f} |")


def _read_set():
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_read_set", HERE / "bench" / "read_set.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


if __name__ == "__main__":
    main()
