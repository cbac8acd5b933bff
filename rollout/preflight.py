"""Phase 0 as the commands read it: the preflight evidence a flag file asks for, judged
from a store's history by the pure rules of rollout/core/readiness.py (`rollout
preflight`, and the first step up that `rollout validate --base` judges)."""
from __future__ import annotations

from dataclasses import replace


def readiness_from_store(requirements, flag: str, store_url: str | None, history_url, at):
    """The requirements judged against `flag`'s history in the store, as of `at`."""
    from rollout.adapters.store import open_store, store_url as resolve
    from rollout.core.readiness import judge_readiness

    with open_store(resolve(store_url), history_url) as store:
        history = store.history(flag, until=at)
    return judge_readiness(requirements, history, at, flag)


def with_readiness(decision, old, new, store_url: str | None, history_url, clock):
    """A pull request's first step up, held until the preflight evidence of both the base
    and the new flag file is in the store's history as of clock(); other moves unchanged.
    Returns the decision and the readiness judged (None when the move needs none)."""
    from rollout.core.readiness import is_first_step, merged
    from rollout.core.rules import APPLY, HOLD

    requirements = merged(old, new)
    if decision.action != APPLY or not requirements or \
            not is_first_step(decision.from_pct, decision.to_pct):
        return decision, None
    ready = readiness_from_store(requirements, new.flag, store_url, history_url, clock())
    if ready.ready:
        return replace(decision, reasons=decision.reasons + (ready.summary(),)), ready
    return replace(decision, action=HOLD, reasons=ready.reasons()), ready
