"""A small GitHub REST API: one repository with branches, file contents and pull requests.

Answers the endpoints the proposer uses with the documented shapes and errors: 401 "Bad
credentials", 404 "Not Found", 422 "Reference already exists", 422 "A pull request already
exists for owner:branch.", 422 "No commits between ...", 409 when a contents sha is stale.
Every write makes a commit, so "what changed" can be asserted with `.file()` and `.commits`.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
from urllib.parse import unquote

from tests.fakes.server import FakeServer, Recorded

DOCS = "https://docs.github.com/rest"


def _error(status: int, message: str, errors: list | None = None):
    body = {"message": message, "documentation_url": DOCS, "status": str(status)}
    if errors:
        body["errors"] = errors
    return status, {}, body


def blob_sha(data: bytes) -> str:
    """The git blob id, which is what GitHub reports as a file's `sha`."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _wrapped_b64(data: bytes) -> str:
    # GitHub returns base64 wrapped at 60 columns with a trailing newline.
    raw = base64.b64encode(data).decode("ascii")
    return "".join(raw[i:i + 60] + "\n" for i in range(0, len(raw), 60))


class FakeGitHub(FakeServer):
    """`.url` is the API base URL (what GITHUB_API_URL holds)."""

    def __init__(self, repository: str = "acme/ops", token: str = "ghs_fake_token",
                 default_branch: str = "main", files: dict[str, str] | None = None) -> None:
        super().__init__()
        self.repository = repository
        self.owner = repository.split("/")[0]
        self.token = token
        self.default_branch = default_branch
        self.commits: dict[str, dict] = {}      # sha -> {"files", "parent", "message"}
        self.refs: dict[str, str] = {}          # branch -> commit sha
        self.pulls: list[dict] = []
        root = self._commit(None, {p: c.encode() for p, c in (files or {}).items()}, "initial")
        self.refs[default_branch] = root

    @property
    def url(self) -> str:
        return self.base_url

    # -- helpers for tests --------------------------------------------------------------------------

    def file(self, path: str, branch: str | None = None) -> str:
        return self.commits[self.refs[branch or self.default_branch]]["files"][path].decode()

    def create_branch(self, name: str, source: str | None = None) -> None:
        self.refs[name] = self.refs[source or self.default_branch]

    def open_pulls(self) -> list[dict]:
        return [p for p in self.pulls if p["state"] == "open"]

    # -- model --------------------------------------------------------------------------------------

    def _commit(self, parent: str | None, files: dict[str, bytes], message: str) -> str:
        seed = json.dumps([parent, message, len(self.commits),
                           sorted((p, blob_sha(c)) for p, c in files.items())])
        sha = hashlib.sha1(seed.encode()).hexdigest()
        self.commits[sha] = {"files": files, "parent": parent, "message": message}
        return sha

    def _ref_json(self, branch: str) -> dict:
        sha = self.refs[branch]
        api = f"{self.base_url}/repos/{self.repository}"
        return {"ref": f"refs/heads/{branch}", "node_id": f"REF_{branch}",
                "url": f"{api}/git/refs/heads/{branch}",
                "object": {"sha": sha, "type": "commit", "url": f"{api}/git/commits/{sha}"}}

    # -- HTTP -----------------------------------------------------------------------------------

    def handle(self, req: Recorded):
        auth = req.header("Authorization") or ""
        if auth not in (f"Bearer {self.token}", f"token {self.token}"):
            return _error(401, "Bad credentials")
        prefix = f"/repos/{self.repository}"
        if req.path != prefix and not req.path.startswith(prefix + "/"):
            return _error(404, "Not Found")
        route = unquote(req.path[len(prefix):])
        body = req.json if req.body else {}
        if route == "" and req.method == "GET":
            return 200, {}, {"full_name": self.repository, "name": self.repository.split("/")[1],
                             "owner": {"login": self.owner}, "default_branch": self.default_branch}
        if route == "/pulls" and req.method == "GET":
            return self._list_pulls(req.query)
        if route == "/pulls" and req.method == "POST":
            return self._create_pull(body)
        if route.startswith("/git/ref/heads/") and req.method == "GET":
            branch = route[len("/git/ref/heads/"):]
            return (200, {}, self._ref_json(branch)) if branch in self.refs else _error(404, "Not Found")
        if route == "/git/refs" and req.method == "POST":
            return self._create_ref(body)
        if route.startswith("/contents/") and req.method == "GET":
            return self._get_contents(route[len("/contents/"):], req.query)
        if route.startswith("/contents/") and req.method == "PUT":
            return self._put_contents(route[len("/contents/"):], body)
        return _error(404, "Not Found")

    def _list_pulls(self, query: dict[str, str]):
        state = query.get("state", "open")
        found = [p for p in self.pulls if state == "all" or p["state"] == state]
        if "head" in query:
            owner, _, branch = query["head"].partition(":")
            found = [p for p in found if owner == self.owner and p["head"]["ref"] == branch]
        if "base" in query:
            found = [p for p in found if p["base"]["ref"] == query["base"]]
        return 200, {}, found

    def _create_pull(self, body: dict):
        missing = [f for f in ("title", "head", "base") if not body.get(f)]
        if missing:
            return _error(422, "Validation Failed", [
                {"resource": "PullRequest", "field": f, "code": "missing_field"} for f in missing])
        head, base = body["head"].split(":")[-1], body["base"]
        for field, branch in (("head", head), ("base", base)):
            if branch not in self.refs:
                return _error(422, "Validation Failed",
                              [{"resource": "PullRequest", "field": field, "code": "invalid"}])
        if any(p["head"]["ref"] == head and p["base"]["ref"] == base for p in self.open_pulls()):
            return _error(422, "Validation Failed", [{
                "resource": "PullRequest", "code": "custom",
                "message": f"A pull request already exists for {self.owner}:{head}."}])
        if self.refs[head] == self.refs[base]:
            return _error(422, "Validation Failed", [{
                "resource": "PullRequest", "code": "custom",
                "message": f"No commits between {base} and {head}"}])
        number = len(self.pulls) + 1
        pull = {
            "number": number, "state": "open", "title": body["title"], "body": body.get("body"),
            "html_url": f"https://github.com/{self.repository}/pull/{number}",
            "url": f"{self.base_url}/repos/{self.repository}/pulls/{number}",
            "head": {"ref": head, "sha": self.refs[head], "label": f"{self.owner}:{head}"},
            "base": {"ref": base, "sha": self.refs[base], "label": f"{self.owner}:{base}"},
        }
        self.pulls.append(pull)
        return 201, {}, pull

    def _create_ref(self, body: dict):
        ref, sha = body.get("ref", ""), body.get("sha", "")
        if not ref.startswith("refs/") or ref.count("/") < 2 or re.search(r"\.\.|[\s~^:?*\[\\]", ref):
            return _error(422, f"{ref} is not a valid ref name.")
        if sha not in self.commits:
            return _error(422, "Object does not exist")
        if not ref.startswith("refs/heads/"):
            return _error(422, "Only branches are kept by this fake")
        branch = ref[len("refs/heads/"):]
        if branch in self.refs:
            return _error(422, "Reference already exists")
        self.refs[branch] = sha
        return 201, {}, self._ref_json(branch)

    def _get_contents(self, path: str, query: dict[str, str]):
        ref = query.get("ref", self.default_branch)
        if ref not in self.refs:
            return _error(404, f"No commit found for the ref {ref}")
        data = self.commits[self.refs[ref]]["files"].get(path)
        if data is None:
            return _error(404, "Not Found")
        return 200, {}, {"type": "file", "encoding": "base64", "size": len(data),
                         "name": path.rsplit("/", 1)[-1], "path": path,
                         "content": _wrapped_b64(data), "sha": blob_sha(data)}

    def _put_contents(self, path: str, body: dict):
        for field in ("message", "content"):
            if field not in body:
                return _error(422, f'Invalid request.\n\n"{field}" wasn\'t supplied.')
        branch = body.get("branch", self.default_branch)
        if branch not in self.refs:
            return _error(404, f"Branch {branch} not found")
        files = dict(self.commits[self.refs[branch]]["files"])
        old = files.get(path)
        if old is not None and "sha" not in body:
            return _error(422, 'Invalid request.\n\n"sha" wasn\'t supplied.')
        if old is not None and body["sha"] != blob_sha(old):
            return _error(409, f"{path} does not match {body['sha']}")
        try:
            files[path] = base64.b64decode(body["content"], validate=True)
        except ValueError:
            return _error(422, "content is not valid Base64")
        sha = self._commit(self.refs[branch], files, body["message"])
        self.refs[branch] = sha
        return (200 if old is not None else 201), {}, {
            "content": {"name": path.rsplit("/", 1)[-1], "path": path,
                        "sha": blob_sha(files[path])},
            "commit": {"sha": sha, "message": body["message"]}}
