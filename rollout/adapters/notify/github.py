"""Propose the revert of a state file as a GitHub pull request, so git agrees with production.

Idempotent by construction: the branch name is derived from the flag and the aborted
revision, and an open pull request from that branch is returned instead of opening another.
"""
from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from urllib.parse import quote

import requests

from rollout.adapters import http
from rollout.adapters.notify.incident import Incident, clip
from rollout.errors import ExternalError, UserError

DEFAULT_API_URL = "https://api.github.com"
TITLE_LIMIT = 256          # GitHub refuses longer pull request titles
EVIDENCE_LIMIT = 60_000    # the body's limit is 65 536 characters; leave room for the rest


def branch_name(incident: Incident) -> str:
    return f"rollout/abort-{incident.flag}-{incident.revision[:12]}"


def pull_title(incident: Incident) -> str:
    return clip(f"Roll back {incident.flag} to {incident.to_percentage}% "
                f"({incident.severity}): {incident.title}", TITLE_LIMIT)


def pull_body(incident: Incident) -> str:
    reasons = "\n".join(f"- {r}" for r in incident.reasons) or "- (none given)"
    return (
        f"## {incident.title}\n\n"
        f"The guard rolled `{incident.flag}` back from {incident.from_percentage}% to "
        f"{incident.to_percentage}% at {incident.timestamp} ({incident.severity}); "
        f"revision `{incident.revision[:12]}` is aborted.\n\n"
        f"### Reasons\n{reasons}\n\n"
        f"### Evidence\n{clip(incident.evidence_markdown, EVIDENCE_LIMIT)}\n\n"
        f"---\n"
        f"Merging this pull request sets `{incident.state_path}` to {incident.to_percentage}%, "
        f"which makes git agree with production again and clears the abort.\n"
    )


def commit_message(incident: Incident) -> str:
    reasons = "\n".join(f"- {r}" for r in incident.reasons)
    return (f"rollout: roll back {incident.flag} to {incident.to_percentage}% "
            f"({incident.severity}, abort of {incident.revision[:12]})\n\n{reasons}\n")


def _has_error(resp: requests.Response, words: str) -> bool:
    """Does a 422 say `words`, in its message or one of its errors? (GitHub uses both.)"""
    try:
        body = resp.json()
    except ValueError:
        return False
    if not isinstance(body, dict):
        return False
    texts = [str(body.get("message", ""))]
    texts += [str(e.get("message", "")) if isinstance(e, dict) else str(e)
              for e in body.get("errors") or []]
    return any(words.lower() in t.lower() for t in texts)


class GitHubProposer:
    def __init__(self, token: str, repository: str, api_url: str = DEFAULT_API_URL, *,
                 policy: http.RetryPolicy = http.DEFAULT_POLICY):
        if repository.count("/") != 1 or not all(repository.split("/")):
            raise UserError(f"GitHub repository: expected 'owner/name', got {repository!r}")
        self._token = token
        self.repository = repository
        self.api_url = api_url.rstrip("/")
        self._policy = policy

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GitHubProposer:
        """GITHUB_TOKEN, GITHUB_REPOSITORY (required) and GITHUB_API_URL, as Actions sets them."""
        env = os.environ if env is None else env
        for name in ("GITHUB_TOKEN", "GITHUB_REPOSITORY"):
            if not env.get(name):
                raise UserError(f"{name} is not set: expected it from GitHub Actions "
                                f"(token with contents and pull-requests write, 'owner/name')")
        return cls(env["GITHUB_TOKEN"], env["GITHUB_REPOSITORY"],
                   env.get("GITHUB_API_URL") or DEFAULT_API_URL)

    def __repr__(self) -> str:
        return (f"GitHubProposer(token=<hidden>, repository={self.repository!r}, "
                f"api_url={self.api_url!r})")

    # -- the one public step ------------------------------------------------------------------

    def propose(self, incident: Incident, new_content: str, base: str | None = None) -> str:
        """Open (once) a pull request writing `new_content` to the incident's state file.

        Returns the pull request's html_url. Safe to repeat: a second call for the same flag
        and revision finds the open pull request and changes nothing.
        """
        branch = branch_name(incident)
        existing = self._open_pull_url(branch)
        if existing:
            return existing
        base = base or self._call("GET", "")["default_branch"]
        base_sha = self._call("GET", f"/git/ref/heads/{quote(base, safe='/')}")["object"]["sha"]
        self._create_branch(branch, base_sha)
        self._write_file(incident, branch, new_content)
        return self._open_pull(incident, branch, base)

    # -- steps ----------------------------------------------------------------------------------

    def _open_pull_url(self, branch: str) -> str | None:
        owner = self.repository.split("/")[0]
        pulls = self._call("GET", "/pulls", params={"state": "open", "head": f"{owner}:{branch}"})
        if not isinstance(pulls, list):
            raise ExternalError(f"{self._what('GET', '/pulls')}: expected a list of pull requests")
        found = [p for p in pulls if isinstance(p, dict) and isinstance(p.get("html_url"), str)]
        return found[0]["html_url"] if found else None

    def _create_branch(self, branch: str, sha: str) -> None:
        resp = self._send("POST", "/git/refs", json={"ref": f"refs/heads/{branch}", "sha": sha})
        # An earlier run may have died after creating the branch: reuse it.
        if resp.status_code == 422 and _has_error(resp, "Reference already exists"):
            return
        http.raise_for_status(resp, self._what("POST", "/git/refs"))

    def _write_file(self, incident: Incident, branch: str, new_content: str) -> None:
        path = f"/contents/{quote(incident.state_path, safe='/')}"
        current = self._call("GET", path, params={"ref": branch})
        wanted = new_content.encode("utf-8")
        # GitHub wraps base64 at 60 columns; b64decode ignores the newlines.
        if current.get("encoding") == "base64" and base64.b64decode(current["content"]) == wanted:
            return  # a reused branch already carries the change: no empty commit
        self._call("PUT", path, json={
            "message": commit_message(incident),
            "content": base64.b64encode(wanted).decode("ascii"),
            "branch": branch,
            "sha": current["sha"],
        })

    def _open_pull(self, incident: Incident, branch: str, base: str) -> str:
        resp = self._send("POST", "/pulls", json={
            "title": pull_title(incident), "head": branch, "base": base,
            "body": pull_body(incident)})
        if resp.status_code == 422 and _has_error(resp, "A pull request already exists"):
            # Another guard run won the race between our lookup and this call.
            existing = self._open_pull_url(branch)
            if existing:
                return existing
        return http.raise_for_status(resp, self._what("POST", "/pulls")).json()["html_url"]

    # -- transport ------------------------------------------------------------------------------

    def _what(self, method: str, path: str) -> str:
        return f"GitHub {method} /repos/{self.repository}{path}"

    def _send(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {
            "Authorization": f"Bearer {self._token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "rollout-controller",
        }
        return http.request(method, f"{self.api_url}/repos/{self.repository}{path}",
                            what="GitHub", policy=self._policy, headers=headers, **kwargs)

    def _call(self, method: str, path: str, **kwargs):
        resp = http.raise_for_status(self._send(method, path, **kwargs), self._what(method, path))
        try:
            return resp.json()
        except ValueError:
            raise ExternalError(f"{self._what(method, path)}: HTTP {resp.status_code} answer "
                                f"is not JSON") from None
