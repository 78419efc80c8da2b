"""The routing manifest as the front door reads it: cached, refreshed by conditional GET.

At most one GetObject per `max_age` seconds, sent with `If-None-Match` on the ETag held: an
unchanged manifest costs a 304 and no parsing, a new one is served within `max_age` of its
write. S3 replaces an object atomically (a reader sees the old or the new body, never part of
either); a body that does not parse (CorruptObject) keeps the last good manifest serving.
"""

from __future__ import annotations

import json
import logging
import threading
import time

from mmeops.aws import Aws
from mmeops.deploy.manifest import Manifest
from mmeops.errors import AwsError, NotFound

log = logging.getLogger(__name__)

NOT_MODIFIED = 304


class ManifestCache:
    def __init__(self, aws: Aws, bucket: str, key: str, max_age: float = 1.0):
        self.aws, self.bucket, self.key, self.max_age = aws, bucket, key, max_age
        self._manifest: Manifest | None = None
        self._etag: str | None = None
        self._checked = float("-inf")
        self._lock = threading.Lock()
        self.reads = 0  # GetObject calls, 304s included (benchmarks and tests count them)

    def get(self) -> Manifest | None:
        """The manifest, at most `max_age` seconds old; None when the environment has none.
        One caller refreshes; the others keep the copy held meanwhile (never a queue)."""
        if time.monotonic() - self._checked < self.max_age:
            return self._manifest
        if self._lock.acquire(blocking=self._etag is None and self._manifest is None):
            try:
                if time.monotonic() - self._checked >= self.max_age:
                    self._refresh()
            finally:
                self._lock.release()
        return self._manifest

    def _refresh(self) -> None:
        params = {"Bucket": self.bucket, "Key": self.key}
        if self._etag:
            params["IfNoneMatch"] = self._etag
        self.reads += 1
        try:
            response = self.aws.call("s3", "get_object", **params)
        except NotFound:
            self._manifest, self._etag = None, None
        except AwsError as e:
            if e.status != NOT_MODIFIED and e.code not in ("304", "NotModified"):
                if self._etag is None:
                    raise  # nothing to serve meanwhile
                log.warning("manifest refresh failed, serving the one held: %s", e)
        else:
            body = response["Body"].read()
            try:
                self._manifest = Manifest.from_dict(json.loads(body.decode("utf-8")))
                self._etag = response["ETag"]
            except ValueError as e:  # keep serving the last good one; say so in the log
                log.error("s3://%s/%s is not a routing manifest (%s)", self.bucket, self.key, e)
        self._checked = time.monotonic()
