"""Profile the quiet live path with the real stack: where does commit -> last effect go?

    python bench/profile_live.py [seconds] [--concurrency N] [--pool prefork|threads|solo] [--workers N]
                                 [--no-spy]

Starts the bench's stack (its own PostgreSQL and Redis, uvicorn, a worker node, beat), sends
approvals at 1/s for ``seconds`` (after a warm-up) while py-spy samples every worker process
(``--no-spy``: no sampling, for clean timings), then prints the commit -> effect p50/p99, each
subscriber's p50 of event -> claim and event -> done, and the functions the workers spent their
samples in (own time, and the bus's own frames by inclusive time). A diagnostic, not a target: the
figures of record come from ``bench/run.py``'s quiet scenario.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

from bench.run import Bench  # noqa: E402


def worker_pids(stack) -> list[int]:
    """The worker nodes' main processes and their pool children."""
    parents = [proc.pid for name, proc in stack.procs.items() if name.startswith("worker")]
    children = []
    for pid in parents:
        for task in Path(f"/proc/{pid}/task").glob("*/children"):
            children += [int(p) for p in task.read_text().split()]
    return parents + children


def summarise(raw: Path, top: int = 30) -> None:
    own: collections.Counter = collections.Counter()
    inclusive: collections.Counter = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    print(f"\n{total} samples; own time:")
    for frame, n in own.most_common(top):
        print(f"  {100 * n / total:5.1f}%  {frame}")
    print("\ninclusive, frames of the bus and the subscribers:")
    ours = [(f, n) for f, n in inclusive.items() if any(k in f for k in (
        "events/", "accounting/", "notifications/", "audit/", "expenses/", "webhooks/", "celery/app/trace"))]
    for frame, n in sorted(ours, key=lambda x: -x[1])[:top]:
        print(f"  {100 * n / total:5.1f}%  {frame}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("seconds", nargs="?", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--pool", default="prefork")
    parser.add_argument("--no-spy", action="store_true")
    args = parser.parse_args()

    bench = Bench()
    try:
        bench.setup()
        stack = bench.stack
        stack.start_web(workers=2)
        for i in range(args.workers):
            stack.spawn(f"worker{i}", [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel",
                                       "WARNING", "--queues", "default,events,fanout", "--pool", args.pool,
                                       "--concurrency", str(args.concurrency), "--without-mingle",
                                       "--without-gossip", "--hostname", f"live{i}@%h"])
        stack.wait_for_workers(args.workers)
        stack.start_beat()
        bench.live_approvals(1.0, 8)  # warm-up: every process has connected and imported
        bench.wait_drained()
        spy = None
        raw = stack.base / "py-spy.txt"
        spy_bin = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if not args.no_spy and not Path(spy_bin).exists():
            print("py-spy not found (requirements-dev.txt installs it): timings only")
            args.no_spy = True
        if not args.no_spy:
            pids = worker_pids(stack)
            spy = [subprocess.Popen([spy_bin, "record", "--pid", str(pid), "--rate", "250", "--format", "raw",
                                     "--nonblocking", "--duration", str(args.seconds + 2), "-o", f"{raw}.{pid}"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for pid in pids]
            time.sleep(1)
        since = bench.live_approvals(1.0, args.seconds)
        bench.wait_drained()
        figures = bench.effect_latency(since)
        print(f"{args.workers} node(s), --pool {args.pool} --concurrency {args.concurrency}: "
              f"{figures['approvals']} approvals, commit -> last effect p50 {figures['p50']} ms, "
              f"p99 {figures['p99']} ms")
        for name, ms in figures["p50_by_subscriber"].items():
            print(f"  {name:40} claimed p50 {figures['p50_claimed_by_subscriber'].get(name)} ms, done p50 {ms} ms")
        if spy:
            for proc in spy:
                proc.wait(60)
            merged = stack.base / "py-spy-all.txt"
            merged.write_text("".join(p.read_text() for p in stack.base.glob("py-spy.txt.*")))
            summarise(merged)
    finally:
        bench.stack.close()


if __name__ == "__main__":
    main()
