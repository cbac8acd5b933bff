"""A throwaway PostgreSQL server for the tests, started once per test session.

    from tests import pg
    url = pg.cluster().create_database()      # a fresh database, already migrated
    ...
    pg.cluster().drop_database(url)

The cluster lives in a temporary directory, listens on 127.0.0.1 on a free port with
password authentication (so the tests also prove passwords never reach an error
message), runs without fsync (it is thrown away), and is stopped and removed when the
test process exits. initdb refuses to run as root, so under root (CI) the server runs as
the `postgres` user the Debian package creates, or as a system user created here.
Without server binaries the PostgreSQL tests are skipped, except under this project's CI
(`.ci/run` installs them and sets ROLLOUT_REQUIRE_POSTGRES): there they fail, so a CI run
can never pass by skipping the production store.
"""
from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

PASSWORD = "pg-test-Secret-9f3"     # asserted absent from every error message
TEMPLATE = "rollout_template"
FALLBACK_USER = "rollout-pg"

_cluster: Cluster | None = None
_failed: str | None = None      # why PostgreSQL tests are skipped (no binaries)
_broken: str | None = None      # why they fail (the server would not start)


def find_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    major = lambda d: int(Path(d).parent.name) if Path(d).parent.name.isdigit() else 0
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=major)
    for d in reversed(versions):
        if (Path(d) / name).exists():
            return str(Path(d) / name)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_user() -> pwd.struct_passwd | None:
    """None: run as ourselves. Under root: an unprivileged user initdb accepts."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", FALLBACK_USER):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            pass
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                    FALLBACK_USER], check=True, capture_output=True)
    return pwd.getpwnam(FALLBACK_USER)


class Cluster:
    def __init__(self) -> None:
        initdb, pg_ctl = find_bin("initdb"), find_bin("pg_ctl")
        if not (initdb and pg_ctl):
            raise FileNotFoundError("PostgreSQL server binaries (initdb, pg_ctl) not found on PATH "
                                    "or in /usr/lib/postgresql/*/bin; `.ci/run` installs them")
        self.pg_ctl = pg_ctl
        self.dir = Path(tempfile.mkdtemp(prefix="rollout-pg-"))
        self.data = self.dir / "data"
        self.running = False
        self.user = None
        try:
            self._start(initdb)
        except BaseException:
            self.stop()
            raise

    def _start(self, initdb: str) -> None:
        pg_ctl = self.pg_ctl
        self.user = _server_user()
        if self.user:
            os.chown(self.dir, self.user.pw_uid, self.user.pw_gid)
        pwfile = self.dir / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self.user:
            os.chown(pwfile, self.user.pw_uid, self.user.pw_gid)
        self._run([initdb, "-D", str(self.data), "-U", "postgres", "--pwfile", str(pwfile),
                   "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8",
                   "--locale=C", "--no-sync"])
        self.port = _free_port()
        opts = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} -c fsync=off "
                f"-c synchronous_commit=off -c full_page_writes=off -c max_connections=60")
        self._run([pg_ctl, "-D", str(self.data), "-l", str(self.dir / "log"), "-w", "-t", "30",
                   "-o", opts, "start"])
        self.running = True
        self.admin_url = self.url("postgres")
        self._admin(f'CREATE DATABASE "{TEMPLATE}"')
        import psycopg

        from rollout.adapters.store.postgres import migrate
        with psycopg.connect(self.url(TEMPLATE)) as conn:
            migrate(conn)

    def _run(self, cmd: list[str]) -> None:
        kwargs = {}
        if self.user:
            kwargs = dict(user=self.user.pw_uid, group=self.user.pw_gid, extra_groups=[])
        proc = subprocess.run(cmd, cwd=self.dir, capture_output=True, text=True, timeout=60,
                              env={"PATH": os.environ.get("PATH", ""), "HOME": str(self.dir),
                                   "LC_ALL": "C"}, **kwargs)
        if proc.returncode:
            log = self.dir / "log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(cmd[:1])} failed: {proc.stderr.strip()} {tail}")

    def url(self, dbname: str, password: str = PASSWORD, port: int | None = None) -> str:
        return f"postgresql://postgres:{password}@127.0.0.1:{port or self.port}/{dbname}"

    def _admin(self, sql: str, params=()) -> list[tuple]:
        import psycopg
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            cur = conn.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def create_database(self, migrated: bool = True) -> str:
        """A fresh database: a copy of the migrated template, or empty (migrated=False)."""
        name = "t_" + uuid.uuid4().hex[:12]
        self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE if migrated else "template0"}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        if self.running:
            self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def execute(self, url: str, sql: str, params=()) -> list[tuple]:
        """Run SQL as the superuser in the database of `url` (inspecting, sabotaging)."""
        import psycopg
        with psycopg.connect(url, autocommit=True) as conn:
            cur = conn.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def stop(self) -> None:
        if self.running:
            self.running = False
            try:
                self._run([self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop"])
            except Exception:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)


def cluster() -> Cluster:
    """The session's cluster, started on first use; skips the test if it cannot start."""
    global _cluster, _failed, _broken
    if _cluster is None and _failed is None and _broken is None:
        try:
            _cluster = Cluster()
        except FileNotFoundError as exc:
            _failed = str(exc)
        except Exception as exc:   # binaries present but the server would not start: a failure
            _broken = f"the test PostgreSQL server did not start: {exc}"
        else:
            atexit.register(_cluster.stop)
    if _broken:
        raise RuntimeError(_broken)     # once per test, without trying to start it again
    if _cluster is None:
        if os.environ.get("ROLLOUT_REQUIRE_POSTGRES"):
            pytest.fail(f"{_failed}; ROLLOUT_REQUIRE_POSTGRES is set, so this must not be skipped")
        pytest.skip(_failed)
    return _cluster


def closed_port_url(dbname: str = "rollout") -> str:
    """A postgres URL (with a password) where nothing listens."""
    return f"postgresql://postgres:{PASSWORD}@127.0.0.1:{_free_port()}/{dbname}"
