"""Slack, PagerDuty and GitHub on 127.0.0.1 for a repository's flag, and the environment
that points the `rollout` CLI at them (the guard's and abort's notifications; `rollout
serve` in tests/serve_proc.py).

    with receivers(repo, now) as (slack, pd, gh, env):
        rollout(["guard", "--once"], repo, env)
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

ROUTING_KEY = "R0UT1NGKEY0000000000000000000000"


def flag_github(repo: Path, flag: str = "skills_rollout"):
    """A fake GitHub holding the repository's flag file (the revert pull request edits it)."""
    from tests.fakes.github import FakeGitHub

    path = f"rollout/flags/{flag}.yaml"
    return FakeGitHub(files={path: (Path(repo) / path).read_text()})


def receivers_env(slack, pd, gh, nr=None) -> dict:
    """Environment pointing every outside system of the guard at the fakes."""
    env = {"SLACK_WEBHOOK_URL": slack.url, "PAGERDUTY_ROUTING_KEY": ROUTING_KEY,
           "PAGERDUTY_EVENTS_URL": pd.url, "GITHUB_TOKEN": gh.token,
           "GITHUB_REPOSITORY": gh.repository, "GITHUB_API_URL": gh.url}
    if nr is not None:
        from tests.fakes.newrelic import API_KEY

        env.update(NEW_RELIC_API_KEY=API_KEY, NEW_RELIC_API_URL=nr.url)
    return env


@contextmanager
def receivers(repo: Path, now, flag: str = "skills_rollout"):
    from tests.fakes.pagerduty import FakePagerDuty
    from tests.fakes.slack import FakeSlack

    with FakeSlack() as slack, FakePagerDuty() as pd, flag_github(repo, flag) as gh:
        yield slack, pd, gh, {**receivers_env(slack, pd, gh), "ROLLOUT_NOW": now.isoformat()}
