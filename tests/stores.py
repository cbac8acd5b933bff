"""Store backends the contract tests run against. PostgreSQL joins when a server is
available (tests/pg.py starts one)."""
from rollout.adapters.store import open_store

BACKENDS = ["sqlite"]


def make_factory(backend, tmp_path):
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path}/flags.db"
        return (lambda: open_store(url)), (lambda: None)
    raise ValueError(backend)
