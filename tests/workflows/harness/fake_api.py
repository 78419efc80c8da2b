"""The few GitHub REST routes `mmeops review-kind` reads over HTTP (it does not use gh), served
from the fake gh's state file on 127.0.0.1, for one World. act passes its URL to every step
as GITHUB_API_URL. Routes (GitHub docs, "REST API endpoints for pull requests" and "for team
members"): a pull request, its files and its reviews (paged by per_page and page, oldest
first), and a team membership (404 when the user is not a member). A request without a
bearer token is refused with 401, as GitHub refuses it for these private resources."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit


class FakeApi:
    def __init__(self, state_path: Path, repository: str):
        self.state_path, self.repository = state_path, repository
        self.calls: list[dict] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                status, body = api.answer(self.path, self.headers.get("Authorization", ""))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, path: str, auth: str) -> tuple[int, object]:
        url = urlsplit(path)
        self.calls.append({"path": url.path, "token": auth.removeprefix("Bearer ")})
        if not auth.startswith("Bearer ") or not auth.removeprefix("Bearer ").strip():
            return 401, {"message": "Requires authentication"}
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        data = json.loads(self.state_path.read_text())
        pulls = f"/repos/{self.repository}/pulls/"
        if m := re.fullmatch(re.escape(pulls) + r"(\d+)(/files|/reviews)?", url.path):
            found = [p for p in data["pulls"] if p["number"] == int(m.group(1))]
            if not found:
                return 404, {"message": "Not Found"}
            pull = found[0]
            if m.group(2) is None:
                return 200, {
                    "number": pull["number"],
                    "body": pull["body"],
                    "user": {"login": pull.get("author", "mmeops-app[bot]")},
                    "state": pull["state"],
                }
            items = (
                [{"filename": f} for f in pull.get("files", [])]
                if m.group(2) == "/files"
                else pull.get("reviews", [])
            )
            per_page, page = int(query.get("per_page", 30)), int(query.get("page", 1))
            return 200, items[(page - 1) * per_page : page * per_page]
        if m := re.fullmatch(r"/orgs/([^/]+)/teams/([^/]+)/memberships/([^/]+)", url.path):
            members = data.get("teams", {}).get(f"{m.group(1)}/{m.group(2)}", [])
            if m.group(3) not in members:
                return 404, {"message": "Not Found"}
            return 200, {"state": "active", "role": "member"}
        return 404, {"message": f"the fake API does not serve GET {url.path}"}
