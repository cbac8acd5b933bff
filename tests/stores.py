"""Store backends the contract tests run against: embedded SQLite, a real PostgreSQL
server (tests/pg.py starts one per session; each test gets a fresh database), and the
flag API over HTTP (a fake on 127.0.0.1) with its history in SQLite."""
import threading

from rollout.adapters.store import open_store

BACKENDS = ["sqlite", "postgres", "http"]


def make_factory(backend, tmp_path):
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path}/flags.db"
        return (lambda: open_store(url)), (lambda: None)
    if backend == "postgres":
        from tests import pg
        cluster = pg.cluster()
        url = cluster.create_database()
        return (lambda: open_store(url)), (lambda: cluster.drop_database(url))
    if backend == "http":
        from rollout.adapters.store.http import HTTPStore
        from tests.fakes.flagapi import FakeFlagAPI
        api = FakeFlagAPI().start()
        history = f"sqlite:///{tmp_path}/history.db"
        return (lambda: HTTPStore(api.base_url, history, token=api.token)), api.stop
    raise ValueError(backend)


def at_once(work, times: int) -> None:
    """Run work() in `times` threads started together (writers racing); wait for all."""
    threads = [threading.Thread(target=work) for _ in range(times)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
