"""A fake `gh` (GitHub CLI) for workflow runs under act: only the subcommands and flags the
workflows and composite actions use, against a JSON state file the test reads and seeds.

Like the real CLI it refuses an unknown flag (exit 1, "unknown flag: --x"); like GitHub it
refuses an issue, pull request or comment body over 65,536 characters (HTTP 422, "body is too
long (maximum is 65536 characters)": GitHub's REST API, "Create an issue comment"). Every call
is appended to the calls file, refused ones too. `--jq` runs the real jq (gh embeds gojq; the
filters here use only what both share) and prints strings raw, as gh does.

Standard library only: it runs under whatever Python the harness names, outside the test's
process (stdin, argv and files are its whole interface).

State (one JSON object): issues, pulls, comments, runs, deployments, branches, next_id. Git
writes (refs, contents) go to the origin repository the harness made (MMEOPS_HARNESS_ORIGIN),
so a pull request's branch is a real branch with a real commit.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import re
import subprocess
import sys
import tempfile
from urllib.parse import parse_qs, urlsplit

BODY_LIMIT = 65536
STATE = os.environ["MMEOPS_HARNESS_GH_STATE"]
CALLS = os.environ["MMEOPS_HARNESS_GH_CALLS"]
ORIGIN = os.environ.get("MMEOPS_HARNESS_ORIGIN", "")


class Refused(Exception):
    """What gh prints on stderr before exiting 1."""


# --- state -------------------------------------------------------------------------------


@contextlib.contextmanager
def state():
    """The state, locked for the whole call: matrix legs run in parallel."""
    with open(STATE + ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with open(STATE) as f:
            data = json.load(f)
        yield data
        tmp = STATE + ".tmp"
        with open(tmp, "w") as f:
            json.dump(data, f, indent=1)
        os.replace(tmp, STATE)


def record(argv: list[str], outcome: str, detail: str = "") -> None:
    entry = {
        "argv": argv,
        "outcome": outcome,
        "detail": detail,
        "token": os.environ.get("GH_TOKEN", ""),
        "job": os.environ.get("GITHUB_JOB", ""),
        "run_id": os.environ.get("GITHUB_RUN_ID", ""),
    }
    with open(CALLS + ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with open(CALLS, "a") as f:
            f.write(json.dumps(entry) + "\n")


def next_id(data: dict) -> int:
    data["next_id"] = data.get("next_id", 1000) + 1
    return data["next_id"]


# --- flags -------------------------------------------------------------------------------


def parse(args: list[str], flags: dict[str, str], positional: int) -> tuple[dict, list[str]]:
    """flags: name -> "value" | "bool" | "multi". Unknown flags are refused, as gh does."""
    opts: dict = {}
    pos: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a.startswith("-") and a != "-":
            name, eq, inline = a.partition("=")
            kind = flags.get(name)
            if kind is None:
                raise Refused(f"unknown flag: {name}")
            if kind == "bool":
                opts[name] = True
            else:
                if eq:
                    value = inline
                else:
                    i += 1
                    if i >= len(args):
                        raise Refused(f"flag needs an argument: {name}")
                    value = args[i]
                if kind == "multi":
                    opts.setdefault(name, []).append(value)
                else:
                    opts[name] = value
        else:
            pos.append(a)
        i += 1
    if len(pos) != positional:
        raise Refused(f"accepts {positional} arg(s), received {len(pos)}")
    return opts, pos


def check_repo(opts: dict) -> None:
    repo = opts.get("--repo") or opts.get("-R")
    if repo != os.environ["GITHUB_REPOSITORY"]:
        raise Refused(f"--repo {repo!r} is not this repository")


def check_body(body: str) -> str:
    if len(body) > BODY_LIMIT:
        raise Refused("HTTP 422: Validation Failed: body is too long (maximum is 65536 characters)")
    return body


def read_file(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def emit(value, jq: str | None) -> None:
    """Print JSON, or the --jq filter's result with strings raw (gh's behaviour)."""
    text = json.dumps(value)
    if jq is None:
        print(text)
        return
    out = subprocess.run(["jq", "-r", jq], input=text, text=True, capture_output=True)
    if out.returncode != 0:
        raise Refused(f"jq: {out.stderr.strip()}")
    sys.stdout.write(out.stdout)


def select(items: list[dict], fields: str | None) -> list[dict]:
    if fields is None:
        raise Refused("--json is required here (the fake prints JSON only)")
    names = fields.split(",")
    return [{k: item.get(k) for k in names} for item in items]


# --- gh issue ----------------------------------------------------------------------------


def _title_query(search: str) -> str:
    """The one search form the workflows use: `"TITLE" in:title`."""
    m = re.fullmatch(r'"(.*)" in:title', search or "")
    if not m:
        raise Refused(f"the fake understands only '\"TITLE\" in:title' searches: {search!r}")
    return m.group(1)


def issue(args: list[str]) -> None:
    verb, rest = args[0], args[1:]
    if verb == "list":
        opts, _ = parse(
            rest,
            {
                "--repo": "value",
                "--state": "value",
                "--search": "value",
                "--json": "value",
                "--jq": "value",
                "--limit": "value",
            },
            0,
        )
        check_repo(opts)
        text = _title_query(opts.get("--search", ""))
        st = opts.get("--state", "open")
        with state() as data:
            found = [
                i
                for i in data["issues"]
                if text.lower() in i["title"].lower() and (st == "all" or i["state"] == st)
            ]
            emit(select(found, opts.get("--json")), opts.get("--jq"))
    elif verb == "create":
        opts, _ = parse(
            rest,
            {
                "--repo": "value",
                "--title": "value",
                "--body-file": "value",
                "--body": "value",
                "--label": "multi",
            },
            0,
        )
        check_repo(opts)
        body = check_body(
            read_file(opts["--body-file"]) if "--body-file" in opts else opts.get("--body", "")
        )
        with state() as data:
            number = next_id(data)
            data["issues"].append(
                {
                    "number": number,
                    "title": opts["--title"],
                    "body": body,
                    "state": "open",
                    "labels": opts.get("--label", []),
                    "comments": [],
                    "url": f"https://github.com/{os.environ['GITHUB_REPOSITORY']}/issues/{number}",
                }
            )
        print(f"https://github.com/{os.environ['GITHUB_REPOSITORY']}/issues/{number}")
    elif verb in ("edit", "close"):
        spec = {"--repo": "value"}
        spec.update(
            {"--body-file": "value", "--title": "value"}
            if verb == "edit"
            else {"--comment": "value", "--reason": "value"}
        )
        opts, pos = parse(rest, spec, 1)
        check_repo(opts)
        with state() as data:
            found = [i for i in data["issues"] if str(i["number"]) == pos[0]]
            if not found:
                raise Refused(f"issue {pos[0]} not found")
            it = found[0]
            if verb == "edit":
                if "--body-file" in opts:
                    it["body"] = check_body(read_file(opts["--body-file"]))
                if "--title" in opts:
                    it["title"] = opts["--title"]
            else:
                if "--comment" in opts:
                    it["comments"].append(check_body(opts["--comment"]))
                it["state"] = "closed"
    else:
        raise Refused(f"unknown command {verb!r} for gh issue")


# --- gh pr -------------------------------------------------------------------------------


def pr(args: list[str]) -> None:
    verb, rest = args[0], args[1:]
    repo = os.environ["GITHUB_REPOSITORY"]
    if verb == "list":
        opts, _ = parse(
            rest,
            {
                "--repo": "value",
                "--head": "value",
                "--state": "value",
                "--json": "value",
                "--jq": "value",
                "--base": "value",
            },
            0,
        )
        check_repo(opts)
        with state() as data:
            found = [
                p
                for p in data["pulls"]
                if ("--head" not in opts or p["head"] == opts["--head"])
                and opts.get("--state", "open") in ("all", p["state"])
            ]
            emit(select(found, opts.get("--json")), opts.get("--jq"))
    elif verb == "create":
        opts, _ = parse(
            rest,
            {
                "--repo": "value",
                "--base": "value",
                "--head": "value",
                "--title": "value",
                "--body-file": "value",
                "--body": "value",
            },
            0,
        )
        check_repo(opts)
        body = check_body(
            read_file(opts["--body-file"]) if "--body-file" in opts else opts.get("--body", "")
        )
        with state() as data:
            if opts["--head"] not in data["branches"]:
                raise Refused(f"HTTP 422: head {opts['--head']!r} does not exist")
            if any(p["head"] == opts["--head"] and p["state"] == "open" for p in data["pulls"]):
                raise Refused("a pull request for branch already exists")
            number = next_id(data)
            url = f"https://github.com/{repo}/pull/{number}"
            data["pulls"].append(
                {
                    "number": number,
                    "url": url,
                    "head": opts["--head"],
                    "base": opts["--base"],
                    "title": opts["--title"],
                    "body": body,
                    "state": "open",
                }
            )
        print(url)
    elif verb == "edit":
        opts, pos = parse(rest, {"--repo": "value", "--title": "value", "--body-file": "value"}, 1)
        with state() as data:
            found = [p for p in data["pulls"] if pos[0] in (p["url"], str(p["number"]))]
            if not found:
                raise Refused(f"pull request {pos[0]} not found")
            if "--title" in opts:
                found[0]["title"] = opts["--title"]
            if "--body-file" in opts:
                found[0]["body"] = check_body(read_file(opts["--body-file"]))
    else:
        raise Refused(f"unknown command {verb!r} for gh pr")


# --- gh run ------------------------------------------------------------------------------


def run(args: list[str]) -> None:
    verb, rest = args[0], args[1:]
    if verb == "list":
        opts, _ = parse(
            rest,
            {
                "--repo": "value",
                "--workflow": "value",
                "--event": "value",
                "--status": "value",
                "--limit": "value",
                "--json": "value",
                "--jq": "value",
                "--branch": "value",
            },
            0,
        )
        check_repo(opts)
        with state() as data:
            runs = sorted(data["runs"], key=lambda r: r["createdAt"], reverse=True)
        st = opts.get("--status")
        found = [
            r
            for r in runs
            if opts.get("--workflow") in (None, r["workflow"])
            and opts.get("--event") in (None, r["event"])
            and (st is None or st in (r["status"], r["conclusion"]))
        ][: int(opts.get("--limit", 20))]
        emit(select(found, opts.get("--json")), opts.get("--jq"))
    elif verb == "view":
        opts, pos = parse(rest, {"--repo": "value", "--json": "value", "--jq": "value"}, 1)
        check_repo(opts)
        with state() as data:
            found = [r for r in data["runs"] if str(r["databaseId"]) == pos[0]]
        if not found:
            raise Refused(f"run {pos[0]} not found")
        emit(select(found, opts.get("--json"))[0], opts.get("--jq"))
    else:
        raise Refused(f"unknown command {verb!r} for gh run")


# --- gh api ------------------------------------------------------------------------------


def git(*args: str, env: dict | None = None, stdin: str | None = None) -> str:
    return subprocess.run(
        ["git", "-C", ORIGIN, *args],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        input=stdin,
    ).stdout.strip()


def put_contents(data: dict, path: str, fields: dict) -> dict:
    """Commit one file on a branch, as the contents API does (sha = the blob it replaces)."""
    branch = fields["branch"]
    head = data["branches"].get(branch)
    if head is None:
        raise Refused(f"HTTP 404: branch {branch} not found")
    current = subprocess.run(
        ["git", "-C", ORIGIN, "rev-parse", f"{head}:{path}"], capture_output=True, text=True
    ).stdout.strip()
    if current and fields.get("sha") != current:
        raise Refused(f"HTTP 409: {path} does not match {fields.get('sha')}")
    content = base64.b64decode(fields["content"]).decode()
    blob = git("hash-object", "-w", "--stdin", stdin=content)
    with tempfile.TemporaryDirectory() as tmp:
        index = {"GIT_INDEX_FILE": os.path.join(tmp, "index")}
        git("read-tree", head, env=index)
        git("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=index)
        tree = git("write-tree", env=index)
    ident = {
        "GIT_AUTHOR_NAME": "GitHub",
        "GIT_AUTHOR_EMAIL": "noreply@github.com",
        "GIT_COMMITTER_NAME": "GitHub",
        "GIT_COMMITTER_EMAIL": "noreply@github.com",
    }
    commit = git("commit-tree", tree, "-p", head, "-m", fields["message"], env=ident)
    git("update-ref", f"refs/heads/{branch}", commit)
    data["branches"][branch] = commit
    return {"commit": {"sha": commit}}


def get_contents(data: dict, path: str, ref: str) -> dict:
    """A file at a branch (or commit), as the contents API returns it: base64 with a newline
    every 60 characters (GitHub docs, "Get repository content")."""
    commit = data["branches"].get(ref, ref)
    found = subprocess.run(["git", "-C", ORIGIN, "show", f"{commit}:{path}"], capture_output=True)
    if found.returncode != 0:
        raise Refused(f"HTTP 404: {path} not found at {ref}")
    encoded = base64.b64encode(found.stdout).decode()
    content = "\n".join(encoded[i : i + 60] for i in range(0, len(encoded), 60)) + "\n"
    blob = git("rev-parse", f"{commit}:{path}")
    return {"type": "file", "path": path, "sha": blob, "encoding": "base64", "content": content}


def api(args: list[str]) -> None:
    opts, pos = parse(
        args,
        {
            "--paginate": "bool",
            "-X": "value",
            "--method": "value",
            "--jq": "value",
            "-f": "multi",
            "-F": "multi",
        },
        1,
    )
    method = opts.get("-X") or opts.get("--method")
    fields: dict = {}
    for kv in opts.get("-f", []):
        k, _, v = kv.partition("=")
        fields[k] = v
    for kv in opts.get("-F", []):
        k, _, v = kv.partition("=")
        if v.startswith("@"):
            v = read_file(v[1:])
        elif v in ("true", "false"):
            v = v == "true"
        fields[k] = v
    method = method or ("POST" if fields else "GET")
    url = urlsplit(pos[0])
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    prefix = f"repos/{os.environ['GITHUB_REPOSITORY']}/"
    if not url.path.startswith(prefix):
        raise Refused(f"HTTP 404: {url.path}")
    route = url.path[len(prefix) :]
    with state() as data:
        result = _route(data, method, route, query, fields)
    emit(result, opts.get("--jq"))


def _route(data: dict, method: str, route: str, query: dict, fields: dict):
    repo = os.environ["GITHUB_REPOSITORY"]
    if m := re.fullmatch(r"issues/(\d+)/comments", route):
        number = int(m.group(1))
        if method == "GET":
            return [c for c in data["comments"] if c["issue"] == number]
        cid = next_id(data)
        comment = {
            "id": cid,
            "issue": number,
            "body": check_body(fields["body"]),
            "user": {"login": "github-actions[bot]"},
        }
        data["comments"].append(comment)
        return comment
    if (m := re.fullmatch(r"issues/comments/(\d+)", route)) and method == "PATCH":
        found = [c for c in data["comments"] if c["id"] == int(m.group(1))]
        if not found:
            raise Refused("HTTP 404: comment not found")
        found[0]["body"] = check_body(fields["body"])
        return found[0]
    if (m := re.fullmatch(r"git/ref/heads/(.+)", route)) and method == "GET":
        if m.group(1) not in data["branches"]:
            raise Refused("HTTP 404: Not Found")
        return {"ref": f"refs/heads/{m.group(1)}", "object": {"sha": data["branches"][m.group(1)]}}
    if (m := re.fullmatch(r"git/refs/heads/(.+)", route)) and method == "PATCH":
        git("update-ref", f"refs/heads/{m.group(1)}", fields["sha"])
        data["branches"][m.group(1)] = fields["sha"]
        return {"ref": f"refs/heads/{m.group(1)}"}
    if route == "git/refs" and method == "POST":
        name = fields["ref"].removeprefix("refs/heads/")
        if name in data["branches"]:
            raise Refused("HTTP 422: Reference already exists")
        git("update-ref", fields["ref"], fields["sha"])
        data["branches"][name] = fields["sha"]
        return {"ref": fields["ref"]}
    if (m := re.fullmatch(r"contents/(.+)", route)) and method == "PUT":
        return put_contents(data, m.group(1), fields)
    if (m := re.fullmatch(r"contents/(.+)", route)) and method == "GET":
        return get_contents(data, m.group(1), query.get("ref", "main"))
    if route == "deployments" and method == "GET":
        found = [
            d
            for d in reversed(data["deployments"])
            if query.get("environment") in (None, d["environment"])
        ]
        return [
            {k: d[k] for k in ("id", "sha", "environment")}
            for d in found[: int(query.get("per_page", 30))]
        ]
    if m := re.fullmatch(r"deployments/(\d+)(/statuses)?", route):
        found = [d for d in data["deployments"] if d["id"] == int(m.group(1))]
        if not found:
            raise Refused("HTTP 404: Not Found")
        if m.group(2):
            return [{"state": s} for s in reversed(found[0]["statuses"])]
        return {k: found[0][k] for k in ("id", "sha", "environment")}
    raise Refused(f"HTTP 404: the fake does not serve {method} {repo}/{route}")


def main(argv: list[str]) -> int:
    commands = {"issue": issue, "pr": pr, "run": run, "api": api}
    try:
        if not argv or argv[0] not in commands or (argv[0] != "api" and len(argv) < 2):
            raise Refused(f"unknown command {' '.join(argv[:2])!r}")
        commands[argv[0]](argv[1:])
    except Refused as e:
        record(argv, "refused", str(e))
        print(str(e), file=sys.stderr)
        return 1
    record(argv, "ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
