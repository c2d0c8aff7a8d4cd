"""A Hub-protocol server for the tests: the Hugging Face Hub's HTTP API, on 127.0.0.1, with repos made here.

Built on pytest-httpserver (werkzeug). It answers the calls toxft and the libraries it drives
(huggingface_hub, transformers, peft, lm_eval) make, with the JSON bodies, headers and error
codes of the Hub's documented API:

* ``GET /api/{models,datasets}/{id}[/revision/{rev}][?blobs=True]``: repo info (``id``, ``sha``,
  ``gated``, ``cardData``, ``siblings`` with ``blobId`` and ``size`` when asked, ``tags``,
  ``downloads``, ``library_name``, ...);
* ``GET /api/{type}s/{id}/auth-check``: 200, or 403 with ``X-Error-Code: GatedRepo``;
* ``GET /api/{type}s/{id}/tree/{rev}``: the file list ``snapshot_download`` reads;
* ``HEAD``/``GET /{id}/resolve/{rev}/{path}`` and ``/datasets/{id}/resolve/...``: file bytes with
  ``ETag`` (the git blob id), ``X-Repo-Commit`` and ``Content-Length``, as huggingface_hub needs
  to cache them;
* ``GET /api/models?filter=...&sort=downloads``: model listing (the model tree's tags);
* ``POST /api/{type}s/{id}/preupload/{rev}``, ``POST /api/{type}s/{id}/commit/{rev}[?create_pr=1]``:
  the commit flow of ``create_commit``/``push_to_hub``, opening pull requests as ``refs/pr/N``;
* ``GET /api/{type}s/{id}/discussions``: the pull requests, ``POST /api/repos/create``,
  ``POST /api/validate-yaml``;
* errors as the Hub sends them: 401/403 gated, 404 with ``X-Error-Code`` ``RepoNotFound``,
  ``RevisionNotFound`` or ``EntryNotFound``, a renamed repo's 307 redirect, and on request a
  5xx or a connection dropped mid-body.

Differences from the real Hub, on purpose: every file is served as a regular git file (no LFS
or Xet redirects to a CDN, so ``preupload`` answers ``regular`` and uploads come inline in the
commit); no authentication beyond "a token is present"; one page of listings.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from werkzeug import Request, Response

NOW = "2026-11-30T00:00:00.000Z"


def blob_id(content: bytes) -> str:
    """The git blob id of a file: what the Hub sends as its ETag."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


@dataclass
class Repo:
    """One repository: commits (each a full file set), refs, gating, listing data, pull requests."""

    repo_id: str
    kind: str = "model"
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)
    gated: str | bool = False
    downloads: int = 0
    tags: list[str] = field(default_factory=list)
    library_name: str | None = None
    pulls: list[dict] = field(default_factory=list)

    def commit(self, files: dict[str, bytes], ref: str = "main") -> str:
        """Add a commit holding ``files`` on ``ref``; its 40-hex id."""
        parent = self.refs.get(ref, "")
        digest = hashlib.sha1(parent.encode() + json.dumps(sorted((k, blob_id(v)) for k, v in files.items()))
                              .encode()).hexdigest()
        self.commits[digest] = dict(files)
        self.refs[ref] = digest
        return digest

    def at(self, revision: str) -> tuple[str, dict[str, bytes]] | None:
        sha = self.refs.get(revision) or (revision if revision in self.commits else None)
        return (sha, self.commits[sha]) if sha else None

    @property
    def head(self) -> str:
        return self.refs["main"]

    def card_data(self, files: dict[str, bytes]) -> dict | None:
        text = files.get("README.md", b"").decode()
        if not text.startswith("---"):
            return None
        import yaml

        return yaml.safe_load(text.split("---", 2)[1]) or {}


class FakeHub:
    """The repositories and the request log of one test server."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")
        self.repos: dict[tuple[str, str], Repo] = {}
        self.renamed: dict[str, str] = {}
        self.granted: set[str] = set()  # gated repos this token may read
        self.failures: list[tuple[re.Pattern, str]] = []  # (path pattern, "500" | "drop")
        self.log: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    # --- building the world ---------------------------------------------------------------

    def add(self, repo_id: str, files: dict[str, bytes | str] | Path, kind: str = "model", **options) -> Repo:
        """A repository with one commit on main, from a mapping or a local folder."""
        if isinstance(files, Path):
            files = {str(p.relative_to(files)): p.read_bytes() for p in sorted(files.rglob("*")) if p.is_file()}
        repo = Repo(repo_id, kind, **options)
        repo.commit({k: v.encode() if isinstance(v, str) else v for k, v in files.items()})
        self.repos[(kind, repo_id)] = repo
        return repo

    def repo(self, repo_id: str, kind: str = "model") -> Repo:
        return self.repos[(kind, repo_id)]

    def fail(self, pattern: str, how: str = "500") -> None:
        """Answer requests whose path matches ``pattern`` with a 500, or drop the connection mid-body."""
        self.failures.append((re.compile(pattern), how))

    def requests(self, method: str | None = None, contains: str = "") -> list[str]:
        return [path for m, path in self.log if (method is None or m == method) and contains in path]

    # --- the HTTP API -----------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        path = unquote(request.path)
        with self.lock:
            self.log.append((request.method, request.full_path if request.query_string else path))
        for pattern, how in self.failures:
            if pattern.search(path):
                return self._failure(how)
        routes = [
            (r"^/api/validate-yaml$", self._validate),
            (r"^/api/repos/create$", self._create),
            (r"^/api/models$", self._list_models),
            (r"^/api/(models|datasets)/([^/]+/[^/]+)/auth-check$", self._auth_check),
            (r"^/api/(models|datasets)/([^/]+/[^/]+)/preupload/(.+)$", self._preupload),
            (r"^/api/(models|datasets)/([^/]+/[^/]+)/commit/(.+)$", self._commit),
            (r"^/api/(models|datasets)/([^/]+/[^/]+)/discussions$", self._discussions),
            (r"^/api/(models|datasets)/([^/]+/[^/]+)/tree/([^/]+(?:/pr/\d+)?)(?:/(.*))?$", self._tree),
            (r"^/api/(models|datasets)/([^/]+/[^/]+)(?:/revision/(.+))?$", self._info),
            (r"^/(datasets/)?([^/]+/[^/]+)/resolve/([^/]+(?:/pr/\d+)?)/(.+)$", self._resolve),
        ]
        for pattern, route in routes:
            found = re.match(pattern, path)
            if found:
                return route(request, *found.groups())
        return self._error(404, "EntryNotFound", f"no route for {request.method} {path}")

    @staticmethod
    def _error(status: int, code: str | None, message: str) -> Response:
        headers = {"X-Error-Message": message}
        if code:
            headers["X-Error-Code"] = code
        return Response(json.dumps({"error": message}), status=status, headers=headers,
                        content_type="application/json")

    @staticmethod
    def _failure(how: str) -> Response:
        if how == "drop":
            def body():
                yield b"x" * 64
                raise ConnectionAbortedError("dropped on purpose")  # werkzeug closes the socket mid-body

            return Response(body(), status=200, headers={"Content-Length": "100000"}, direct_passthrough=True)
        return FakeHub._error(int(how), None, "Internal Error - We're working hard to fix this as soon as possible!")

    def _lookup(self, kind: str, repo_id: str, request: Request):
        """(repo, None) or (None, an error or redirect response)."""
        if repo_id in self.renamed:
            new = self.renamed[repo_id]
            return None, Response(status=307, headers={"Location": request.full_path.replace(repo_id, new, 1)
                                                       if request.query_string else request.path.replace(repo_id,
                                                                                                         new, 1)})
        repo = self.repos.get((kind, repo_id))
        if repo is None:
            return None, self._error(401 if "authorization" not in request.headers else 404, "RepoNotFound",
                                     "Repository not found")
        return repo, None

    def _gated_error(self, repo: Repo) -> Response | None:
        if repo.gated and repo.repo_id not in self.granted:
            return self._error(403, "GatedRepo", f"Access to model {repo.repo_id} is restricted and you are not in "
                                                 "the authorized list. Visit the repo page to ask for access.")
        return None

    def _info(self, request: Request, kinds: str, repo_id: str, revision: str | None) -> Response:
        repo, found, error = self._revision(request, kinds[:-1], repo_id, revision or "main")
        if error:
            return error
        sha, files = found
        body = {"_id": hashlib.md5(repo_id.encode()).hexdigest()[:24], "id": repo_id, "sha": sha,
                "private": False, "gated": repo.gated, "disabled": False, "downloads": repo.downloads, "likes": 0,
                "tags": repo.tags, "lastModified": NOW, "createdAt": NOW, "author": repo_id.split("/")[0],
                "siblings": [{"rfilename": name} for name in sorted(files)]}
        if request.args.get("blobs"):  # files_metadata=True: each file's git blob id and size
            body["siblings"] = [{"rfilename": name, "blobId": blob_id(content), "size": len(content)}
                                for name, content in sorted(files.items())]
        if repo.kind == "model":
            body.update(modelId=repo_id, library_name=repo.library_name, cardData=repo.card_data(files))
        else:
            body.update(cardData=repo.card_data(files))
        return Response(json.dumps(body), content_type="application/json")

    def _revision(self, request: Request, kind: str, repo_id: str, revision: str):
        """(repo, (sha, files), None), or (None, None, the error or redirect to answer)."""
        repo, error = self._lookup(kind, repo_id, request)
        if error:
            return None, None, error
        found = repo.at(revision)
        if found is None:
            return None, None, self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        return repo, found, None

    def _tree(self, request: Request, kinds: str, repo_id: str, revision: str, folder: str | None) -> Response:
        _, found, error = self._revision(request, kinds[:-1], repo_id, revision)
        if error:
            return error
        prefix = f"{folder.rstrip('/')}/" if folder else ""
        entries = [{"type": "file", "oid": blob_id(content), "size": len(content), "path": name}
                   for name, content in sorted(found[1].items()) if name.startswith(prefix)]
        return Response(json.dumps(entries), content_type="application/json")

    def _auth_check(self, request: Request, kinds: str, repo_id: str) -> Response:
        repo, error = self._lookup(kinds[:-1], repo_id, request)
        return error or self._gated_error(repo) or Response(json.dumps({}), content_type="application/json")

    def _resolve(self, request: Request, dataset: str | None, repo_id: str, revision: str, filename: str):
        repo, found, error = self._revision(request, "dataset" if dataset else "model", repo_id, revision)
        if error:
            return error
        sha, files = found
        if filename not in files:
            return self._error(404, "EntryNotFound", f"{filename} does not exist on {revision}")
        if filename != "README.md" and (gated := self._gated_error(repo)):
            return gated
        content = files[filename]
        headers = {"ETag": f'"{blob_id(content)}"', "X-Repo-Commit": sha, "Content-Length": str(len(content)),
                   "Accept-Ranges": "bytes"}
        # The body for HEAD too: werkzeug drops it but keeps its Content-Length, as the Hub sends it.
        return Response(content, headers=headers, content_type="application/octet-stream")

    def _list_models(self, request: Request) -> Response:
        wanted = request.args.getlist("filter")
        models = [r for (kind, _), r in self.repos.items() if kind == "model"
                  and all(f in r.tags or f == r.library_name for f in wanted)]
        if request.args.get("sort") == "downloads":
            models.sort(key=lambda r: -r.downloads)
        limit = int(request.args.get("limit", 1000))
        body = []
        for repo in models[:limit]:
            files = repo.commits[repo.head]
            body.append({"_id": repo.repo_id, "id": repo.repo_id, "modelId": repo.repo_id, "sha": repo.head,
                         "downloads": repo.downloads, "likes": 0, "tags": repo.tags, "gated": repo.gated,
                         "private": False, "library_name": repo.library_name, "createdAt": NOW,
                         "lastModified": NOW, "siblings": [{"rfilename": n} for n in sorted(files)],
                         "cardData": repo.card_data(files)})
        return Response(json.dumps(body), content_type="application/json")

    def _validate(self, request: Request) -> Response:
        return Response(json.dumps({"errors": [], "warnings": []}), content_type="application/json")

    def _create(self, request: Request) -> Response:
        data = request.get_json()
        repo_id = f"{data['organization']}/{data['name']}" if data.get("organization") else data["name"]
        kind = data.get("type", "model")
        if (kind, repo_id) in self.repos:
            return self._error(409, None, "You already created this model repo")
        self.add(repo_id, {".gitattributes": "*.safetensors filter=lfs\n"}, kind=kind)
        return Response(json.dumps({"url": f"{self.url}/{repo_id}", "name": repo_id}), content_type="application/json")

    def _preupload(self, request: Request, kinds: str, repo_id: str, revision: str) -> Response:
        repo, error = self._lookup(kinds[:-1], repo_id, request)
        if error:
            return error
        files = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": None}
                 for f in request.get_json()["files"]]
        return Response(json.dumps({"files": files, "commitOid": repo.head}), content_type="application/json")

    def _commit(self, request: Request, kinds: str, repo_id: str, revision: str) -> Response:
        repo, found, error = self._revision(request, kinds[:-1], repo_id, revision)
        if error:
            return error
        files = dict(found[1])
        summary = ""
        for line in request.get_data().splitlines():
            item = json.loads(line)
            value = item["value"]
            if item["key"] == "header":
                summary = value.get("summary", "")
            elif item["key"] == "file":
                files[value["path"]] = base64.b64decode(value["content"])
            elif item["key"] in ("deletedFile", "deletedFolder"):
                files = {k: v for k, v in files.items() if not k.startswith(value["path"])}
            else:
                return self._error(400, None, f"{item['key']} operations are not served here")
        if request.args.get("create_pr"):
            number = len(repo.pulls) + 1
            ref = f"refs/pr/{number}"
            repo.refs[ref] = found[0]
            sha = repo.commit(files, ref=ref)
            repo.pulls.append({"num": number, "title": summary, "status": "open", "ref": ref})
            pull = f"{self.url}/{repo_id}/discussions/{number}"
        else:
            sha, pull = repo.commit(files, ref=revision), None
        return Response(json.dumps({"commitUrl": f"{self.url}/{repo_id}/commit/{sha}", "commitOid": sha,
                                    "pullRequestUrl": pull, "success": True}), content_type="application/json")

    def _discussions(self, request: Request, kinds: str, repo_id: str) -> Response:
        repo, error = self._lookup(kinds[:-1], repo_id, request)
        if error:
            return error
        wanted = request.args.get("status")
        pulls = [p for p in repo.pulls if wanted in (None, "all", p["status"])]
        body = [{"num": p["num"], "title": p["title"], "status": p["status"], "isPullRequest": True,
                 "createdAt": NOW, "author": {"name": "toxft-tests"}, "repo": {"name": repo_id, "type": repo.kind},
                 "numComments": 1, "pinned": False, "topReactions": []} for p in pulls]
        return Response(json.dumps({"discussions": body, "count": len(body), "start": 0,
                                    "numClosedDiscussions": 0}), content_type="application/json")

    def pull_card(self, repo_id: str, number: int) -> str:
        """The README a pull request would merge."""
        return self.repo(repo_id).at(f"refs/pr/{number}")[1]["README.md"].decode()


def folder_files(folder: Path) -> dict[str, bytes]:
    """The files of a model folder (not its subfolders), as a repository's content."""
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def add_adapter(hub: FakeHub, repo_id: str, folder: Path, base: str, card: str, **options) -> Repo:
    """A PEFT adapter repository made from a local adapter folder, naming ``base`` as its base, with ``card``."""
    files = folder_files(folder)
    config = json.loads(files["adapter_config.json"])
    files["adapter_config.json"] = json.dumps({**config, "base_model_name_or_path": base}).encode()
    files["README.md"] = card.encode()
    return hub.add(repo_id, files, library_name="peft", **options)


def client_env(hub: FakeHub, home: Path, tiny_classifier: Path, data_dir: Path | None) -> dict:
    """The environment of a toxft command talking to ``hub``: its endpoint, a fresh HF_HOME, the tiny scorer."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TOXFT_"))}
    env.update(HF_ENDPOINT=hub.url, HF_HUB_OFFLINE="0", HF_DATASETS_OFFLINE="1", HF_HOME=str(home),
               HF_TOKEN="hf_test_token", HF_HUB_DISABLE_TELEMETRY="1", TOXFT_SCORER=str(tiny_classifier),
               HF_HUB_ETAG_TIMEOUT="5", HF_HUB_DOWNLOAD_TIMEOUT="5")
    if data_dir:
        env["TOXFT_DATA_DIR"] = str(data_dir)
    return env


def add_prompt_sets(hub: FakeHub, mirror: Path) -> None:
    """The RealToxicityPrompts, CEB and (when the folder has it) PolygloToxicityPrompts dataset repositories, from a
    folder laid out like the Hub."""
    hub.add("allenai/real-toxicity-prompts", mirror / "allenai" / "real-toxicity-prompts", kind="dataset")
    hub.add("Song-SW/CEB", mirror / "Song-SW" / "CEB", kind="dataset")
    ptp = mirror / "ToxicityPrompts" / "PolygloToxicityPrompts"
    if ptp.is_dir():
        hub.add("ToxicityPrompts/PolygloToxicityPrompts", ptp, kind="dataset")


def run_toxft(hub: FakeHub, argv: tuple[str, ...], *, home: Path, tiny_classifier: Path, data_dir: Path | None,
              cwd: Path | None = None, timeout: int = 600, **env: str):
    """``toxft ARGV`` in a fresh process talking to ``hub``, as a user runs it; the CompletedProcess."""
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "toxft.cli", *argv], capture_output=True, text=True, cwd=cwd,
                          env={**client_env(hub, home, tiny_classifier, data_dir), **env}, timeout=timeout, check=False)


@contextmanager
def serving() -> Iterator[FakeHub]:
    """A Hub-protocol server on 127.0.0.1 while the block runs, its world a new :class:`FakeHub`."""
    from pytest_httpserver import HTTPServer

    server = HTTPServer(host="127.0.0.1", threaded=True)
    server.start()
    try:
        yield start(server)
    finally:
        server.stop()


def start(httpserver) -> FakeHub:
    """Route every request of a pytest-httpserver to a new :class:`FakeHub`."""
    hub = FakeHub(httpserver.url_for("/"))
    httpserver.expect_request(re.compile(".*")).respond_with_handler(hub.handle)
    return hub

