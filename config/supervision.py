"""supervisor's event listener under `make run`: says what happened to a process, and tells
`/readyz` at once that a worker or beat is down.

supervisord restarts processes by itself (config/launch.py sets the policy); this listener only
reads its PROCESS_STATE events (supervisor's event-listener protocol, `supervisor.childutils`):

- a process that exited unexpectedly is logged with how many times that happened in the last
  minute;
- when the worker or beat exits, its heartbeat key is deleted from Redis, so `/readyz` says
  ``worker: down`` from that moment until the restarted process writes a new heartbeat (without
  this, the dead process's last heartbeat would look fresh for up to HEARTBEAT_MAX_AGE);
- a process supervisor gave up on (FATAL) is logged with what to do about it.

Protocol lines go to stdout; everything this module says goes to stderr (the terminal).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections import defaultdict, deque

import redis
from supervisor import childutils

from config.celery import HEARTBEAT_KEY

HEARTBEAT_ROLES = {"worker", "beat"}
WINDOW_SECONDS = 60.0


def say(text: str) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    sys.stderr.write(f"{stamp} supervision: {text}\n")
    sys.stderr.flush()


class Supervision:
    def __init__(self, redis_url: str | None) -> None:
        # Connected once, ahead of need: the heartbeat must be gone before the restarted process
        # (a second or two later) writes its first one.
        self.redis = redis.Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=1) if redis_url else None
        self.exits: dict[str, deque[float]] = defaultdict(deque)

    def mark_down(self, name: str) -> None:
        if name not in HEARTBEAT_ROLES or self.redis is None:
            return
        with contextlib.suppress(redis.RedisError):  # Redis down: /readyz says so by itself
            self.redis.delete(HEARTBEAT_KEY.format(role=name))
            say(f"{name} marked down for /readyz until it sends a heartbeat again")

    def handle(self, event: str, payload: dict[str, str], now: float) -> None:
        name = payload.get("processname", "?")
        if name == "supervision":
            return
        state = event.removeprefix("PROCESS_STATE_")
        if state == "EXITED" and payload.get("expected") == "0":
            recent = self.exits[name]
            recent.append(now)
            while recent and recent[0] < now - WINDOW_SECONDS:
                recent.popleft()
            say(f"{name} (pid {payload.get('pid')}) exited unexpectedly; supervisor restarts it "
                f"({len(recent)} unexpected exit(s) in the last minute)")
            self.mark_down(name)
        elif state == "BACKOFF":
            say(f"{name} exited within a minute of its start; supervisor retries it after a growing back-off")
            self.mark_down(name)
        elif state == "FATAL":
            say(f"GAVE UP on {name} after too many failed starts: see its log above, then "
                f"`supervisorctl -c {os.environ.get('OUTLAY_RUN_DIR', 'var/run')}/supervisord.conf start {name}`")
            self.mark_down(name)
        elif state == "RUNNING" and payload.get("from_state") == "STARTING":
            say(f"{name} (pid {payload.get('pid')}) has stayed up for a minute")
        elif state == "STARTING" and payload.get("from_state") in {"EXITED", "BACKOFF"}:
            say(f"{name} restarting")


def main() -> int:
    supervision = Supervision(os.environ.get("REDIS_URL"))
    while True:
        headers, body = childutils.listener.wait(sys.stdin, sys.stdout)
        try:
            supervision.handle(headers.get("eventname", ""), childutils.get_headers(body), time.time())
        except Exception as exc:  # noqa: BLE001 - a listener that dies stops nothing, but say why
            say(f"could not handle {headers.get('eventname')}: {exc!r}")
        childutils.listener.ok(sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
