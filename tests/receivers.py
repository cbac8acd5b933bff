"""Slack, PagerDuty and GitHub on 127.0.0.1 for a repository's flag, and the environment
that points the `rollout` CLI at them (the guard's and abort's notifications).

    with receivers(repo, now) as (slack, pd, gh, env):
        rollout(["guard", "--once"], repo, env)
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

ROUTING_KEY = "R0UT1NGKEY0000000000000000000000"


@contextmanager
def receivers(repo: Path, now, flag: str = "skills_rollout"):
    from tests.fakes.github import FakeGitHub
    from tests.fakes.pagerduty import FakePagerDuty
    from tests.fakes.slack import FakeSlack

    path = f"rollout/flags/{flag}.yaml"
    with FakeSlack() as slack, FakePagerDuty() as pd, \
            FakeGitHub(files={path: (Path(repo) / path).read_text()}) as gh:
        yield slack, pd, gh, {"SLACK_WEBHOOK_URL": slack.url, "PAGERDUTY_ROUTING_KEY": ROUTING_KEY,
                              "PAGERDUTY_EVENTS_URL": pd.url, "GITHUB_TOKEN": gh.token,
                              "GITHUB_REPOSITORY": gh.repository, "GITHUB_API_URL": gh.url,
                              "ROLLOUT_NOW": now.isoformat()}
