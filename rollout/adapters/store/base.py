"""The flag store interface (SQL implementation: sql.py; the application's API: http.py).

A store holds what the application reads (`feature_flags`) and the append-only
`rollout_history`. Applying a value and writing its history row happen in one
transaction, guarded by compare-and-set on `version`, so two controllers racing
cannot both apply and nothing is applied without its record.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime, timedelta

from rollout.core.state import HELD, REFUSED, Applied, Event

# A `sending` claim older than this belongs to a sender that died mid-delivery, and is
# retried. Every send is bounded by the run's notification deadline (rollout.deliveries:
# 20 s), so a live sender never holds a claim this long.
DELIVERY_LEASE = timedelta(minutes=2)


class FlagStore(ABC):
    url: str

    @abstractmethod
    def read(self, flag: str) -> Applied | None: ...

    @abstractmethod
    def read_all(self) -> dict[str, Applied]: ...

    @abstractmethod
    def apply(self, flag: str, percentage: int, expected_version: int | None,
              event: Event) -> Applied:
        """Set the value if the version is still `expected_version` (None: the flag must not
        exist yet) and append `event`, atomically. Raises ConflictError if another writer won."""

    @abstractmethod
    def record(self, event: Event) -> bool:
        """Append a decision that changed nothing. A held or refused move identical to the
        flag's last history row is not written again (returns False)."""

    @abstractmethod
    def history(self, flag: str | None = None, until: datetime | None = None) -> list[Event]:
        """History rows, oldest first."""

    # Notification deliveries for an abort: the guard that wrote the abort (only one can:
    # compare-and-set) claims each channel; a failed delivery is retried on the next run.
    @abstractmethod
    def claim_delivery(self, event_id: int, channel: str, at: datetime) -> int:
        """The attempt number (1 for the first) when this caller may send on `channel` now:
        never claimed, failed, or claimed by a sender whose lease expired; 0 otherwise."""

    @abstractmethod
    def finish_delivery(self, event_id: int, channel: str, ok: bool, detail: str,
                        at: datetime) -> None: ...

    @abstractmethod
    def deliveries(self, event_id: int) -> dict[str, tuple[str, int, str]]:
        """channel -> (status, attempts, detail)."""

    @abstractmethod
    def bookkeeping(self):
        """The SQL store (sql.SQLStore) that keeps the bookkeeping tables beside this
        store: `rollout serve`'s lease and webhook log. A SQL store keeps them itself."""

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def same_decision(last: Event | None, event: Event) -> bool:
    return (last is not None and event.kind in (HELD, REFUSED) and last.kind == event.kind
            and (last.from_pct, last.to_pct, last.revision) ==
            (event.from_pct, event.to_pct, event.revision))
