"""The extract stage: PostgreSQL → a versioned dataset in S3 (docs/architecture.md).

    datasets/<model>/<run_id>/{raw,train,validation,test}.csv, schema.json, lineage.json

Everything a user can get wrong (unknown model, bad window, SQL errors, a missing target, a
non-numeric feature, an empty window, an unreachable warehouse) is found before the first
upload, and raised as a UserError; lineage.json goes up last, so a dataset without it is
incomplete and `latest_run_id` ignores it.

One pass over the data: COPY's bytes go to raw.csv, which a thread (extract.split) follows
as it grows, hashing it and writing the training files, so the split runs on the other core
while the server is still producing rows, and nothing holds the result in memory.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmeops.config.kinds import ModelConfig
from mmeops.config.repo import Repo
from mmeops.errors import MmeopsError, UserError
from mmeops.extract import copyout, warehouse
from mmeops.extract import split as extract_split
from mmeops.extract import values as extract_values
from mmeops.extract.values import rows_in_table
from mmeops.gitinfo import current_commit

if TYPE_CHECKING:  # boto3 is imported only when AWS is used (not by build_dataset)
    from mmeops.aws import Aws

SPLITS = ("train", "validation", "test")
DATA_FILES = ("raw.csv", "train.csv", "validation.csv", "test.csv")
# Milliseconds keep two runs started in the same second in time order (latest_run_id sorts
# names); the older second-resolution form is still accepted.
RUN_ID = re.compile(r"^[0-9]{8}T[0-9]{6}([0-9]{3})?Z-[0-9a-f]{6}$")
PARAMETERS = ("start_date", "end_date")

Progress = Callable[[int], None]  # bytes streamed so far


@dataclass(frozen=True)
class Window:
    """Rows with start <= time < end (the query's `%(start_date)s` / `%(end_date)s`)."""

    start: dt.date
    end: dt.date

    def __str__(self) -> str:
        return f"{self.start} to {self.end} (start inclusive, end exclusive)"


@dataclass(frozen=True)
class DatasetPaths:
    prefix: str
    raw: str
    train: str
    validation: str
    test: str
    schema: str
    lineage: str


@dataclass(frozen=True)
class LocalDataset:
    """The files of one extract on local disk, before upload."""

    dir: Path
    window: Window
    columns: list[warehouse.Column]
    features: list[str]
    rows: dict[str, int]  # per split
    files: dict[str, dict]  # file name → {"rows", "bytes", "sha256"}
    dataset_sha256: str
    seconds: float


@dataclass(frozen=True)
class ExtractResult:
    run_id: str
    uri: str  # s3://bucket/datasets/<model>/<run_id>/
    rows: dict[str, int]  # train / validation / test
    bytes: dict[str, int]  # per file
    dataset_sha256: str
    seconds: float
    window: Window
    local_dir: Path | None = None  # kept only with out_dir

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


# --- naming ----------------------------------------------------------------------------------


def new_run_id(now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.timezone.utc)
    return f"{now:%Y%m%dT%H%M%S}{now.microsecond // 1000:03d}Z-{secrets.token_hex(3)}"


def dataset_prefix(model: str, run_id: str) -> str:
    return f"datasets/{model}/{run_id}/"


def dataset_paths(bucket: str, model: str, run_id: str) -> DatasetPaths:
    """The S3 URIs of one dataset's files."""
    base = f"s3://{bucket}/{dataset_prefix(model, run_id)}"
    return DatasetPaths(
        base,
        base + "raw.csv",
        base + "train.csv",
        base + "validation.csv",
        base + "test.csv",
        base + "schema.json",
        base + "lineage.json",
    )


def latest_run_id(aws: Aws, bucket: str, model: str) -> str | None:
    """The newest complete dataset of `model` (one with lineage.json), or None."""
    prefixes = aws.paginate(
        "s3",
        "list_objects_v2",
        "CommonPrefixes",
        Bucket=bucket,
        Prefix=f"datasets/{model}/",
        Delimiter="/",
    )
    run_ids = sorted((p["Prefix"].rstrip("/").rsplit("/", 1)[-1] for p in prefixes), reverse=True)
    for run_id in (r for r in run_ids if RUN_ID.match(r)):
        if aws.head(bucket, dataset_prefix(model, run_id) + "lineage.json") is not None:
            return run_id
    return None


# --- validation before any work --------------------------------------------------------------


def resolve_window(
    cfg: ModelConfig, start: dt.date | None, end: dt.date | None, today: dt.date | None = None
) -> Window:
    today = today or dt.datetime.now(dt.timezone.utc).date()
    window = Window(start or cfg.window.start, end or today - dt.timedelta(cfg.window.lag_days))
    if window.start >= window.end:
        raise UserError(
            f"empty window: start {window.start} is not before end {window.end}; "
            "pass --start/--end or fix window.start in model.yaml"
        )
    return window


def load_query(repo: Repo, model: str, window: Window) -> warehouse.Query:
    path = repo.query_path(model)
    shown = path.relative_to(repo.root)
    text = warehouse.read_query(path, shown)
    missing = [p for p in PARAMETERS if f"%({p})s" not in text]
    if missing:
        raise UserError(
            f"the query does not use {', '.join('%(' + p + ')s' for p in missing)}; "
            "filter rows on both so the window applies",
            shown,
        )
    return warehouse.Query(
        shown,
        text,
        {"start_date": window.start, "end_date": window.end},
        repo.settings.warehouse.statement_timeout_s,
    )


@dataclass(frozen=True)
class Layout:
    target: int
    features: list[int]
    plain: bool  # no value can need CSV quoting: cut lines instead of parsing


def layout(
    repo: Repo, cfg: ModelConfig, columns: list[warehouse.Column], query_path: Path
) -> Layout:
    """Which result columns are the target and the features; refuse what the container
    cannot read."""
    names = [c.name for c in columns]
    source = repo.model_source(cfg.name)
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UserError(f"the result has column {twice[0]!r} twice; alias one", query_path)
    if cfg.target not in names:
        raise source.error(
            f"target column {cfg.target!r} is not in the result of {query_path} "
            f"(columns: {', '.join(names)}); select it or fix 'target'",
            "target",
        )
    time_column = cfg.split.time_column
    if time_column and time_column not in names:
        raise source.error(
            f"split.time_column {time_column!r} is not in the result of "
            f"{query_path}; select it or fix 'time_column'",
            "split",
            "time_column",
        )
    features = [i for i, n in enumerate(names) if n not in (cfg.target, time_column)]
    if not features:
        raise UserError("the query returns no feature columns besides the target", query_path)
    for i in [names.index(cfg.target), *features]:
        col = columns[i]
        if not col.numeric:
            role = "target" if col.name == cfg.target else "feature"
            raise UserError(
                f"{role} column {col.name!r} is {col.type_name}, not a number; the XGBoost "
                f"container reads numbers only: encode it in the query ({_hint(col)}) or "
                "leave it out",
                query_path,
            )
    plain = all(c.plain for c in columns) and all(map(warehouse.simple_name, names))
    return Layout(names.index(cfg.target), features, plain)


def _hint(col: warehouse.Column) -> str:
    if col.type_name in ("date", "timestamp", "timestamptz", "time"):
        return (
            f"e.g. EXTRACT(EPOCH FROM {col.name}), or name it split.time_column "
            "to split on time instead"
        )
    if col.type_name == "boolean":
        return f"e.g. {col.name}::int"
    return f"e.g. CASE {col.name} WHEN ... THEN 1 ELSE 0 END"


# --- streaming -------------------------------------------------------------------------------


class _Raw:
    """raw.csv as the COPY loop (extract.copyout) writes it: after each write, a byte on the
    notify pipe so the split's thread, which follows the file, reads on. The thread hashes
    it: the COPY loop is what the server waits on, so it does no more than it must."""

    def __init__(self, raw_path: Path, split: _Split, progress: Progress | None):
        self.file = open(raw_path, "wb", buffering=0)  # noqa: SIM115 (closed in close())
        self.split = split
        self.bytes = 0
        self.progress = progress

    def written(self, total: int) -> None:
        """`total` bytes are in raw.csv now."""
        if self.split.error:  # stop the COPY: its rows have nowhere to go
            raise self.split.failure()
        os.write(self.split.notify_w, b"\0")
        self.bytes = total
        if self.progress:
            self.progress(total)

    def close(self) -> None:
        self.file.close()


class _Split(threading.Thread):
    """split.follow in a thread beside the COPY loop (split.py says why a thread)."""

    def __init__(self, spec: dict):
        super().__init__(name="mmeops-extract-split", daemon=True)
        self.spec = spec
        self.notify_r, self.notify_w = os.pipe()
        self.stop = threading.Event()
        self.result: dict | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = extract_split.follow(self.spec, self.notify_r, self.stop)
        except BaseException as e:  # noqa: BLE001 (re-raised in the COPY's thread)
            self.error = e

    def failure(self) -> MmeopsError:
        e = self.error
        text = (e.strerror or str(e)) if isinstance(e, OSError) else str(e)
        return MmeopsError(f"the split failed: {text or type(e).__name__}")

    def finish(self, failed: bool) -> dict:
        """Tell the thread the stream has ended (or failed: it stops at once), wait for it."""
        if failed:
            self.stop.set()
        os.close(self.notify_w)
        self.join()
        os.close(self.notify_r)
        if self.error and not failed:
            raise self.failure() from self.error
        return self.result or {}


def _stream(
    conn: Any,
    query: warehouse.Query,
    columns: list[warehouse.Column],
    spec: dict,
    progress: Progress | None,
) -> tuple[int, dict]:
    """COPY → raw.csv, followed by the split's thread; returns (rows, the split's figures)."""
    split = _Split(spec)
    raw = _Raw(Path(spec["raw"]), split, progress)  # the file exists before the thread opens it
    split.start()
    failed = True
    try:
        fd = raw.file.fileno()
        rows = copyout.copy_to_fd(
            conn, query, fd, raw.written, spec.get("order_by"), columns=columns
        )
        failed = False
    finally:
        raw.close()
        result = split.finish(failed)
    if result["raw"]["bytes"] != raw.bytes:  # it read the file to the end, or it says so
        raise MmeopsError(
            f"the split read {result['raw']['bytes']} bytes of raw.csv, not the {raw.bytes} written"
        )
    return rows, result


def build_dataset(
    repo: Repo,
    model_name: str,
    window: Window,
    dsn: str,
    out_dir: Path,
    progress: Progress | None = None,
) -> LocalDataset:
    """Query the warehouse and write raw.csv, train/validation/test.csv and schema.json into
    `out_dir`. Raises UserError for anything wrong with the query or its result."""
    started = time.monotonic()
    cfg = repo.model(model_name)
    query = load_query(repo, model_name, window)
    timeout = repo.settings.warehouse.statement_timeout_s
    with warehouse.connect(dsn, timeout) as conn:
        columns = warehouse.describe(conn, query)
        lay = layout(repo, cfg, columns, query.path)
        spec = {
            "out_dir": str(out_dir),
            "raw": str(out_dir / "raw.csv"),
            "ncols": len(columns),
            "target": lay.target,
            "features": lay.features,
            "plain": lay.plain,
            "mode": "time" if cfg.split.time_column else "random",
            "order_by": cfg.split.time_column,  # the time split's order, set by extract
            "validation": cfg.split.validation,
            "test": cfg.split.test,
            "seed": cfg.split.seed,
            "binary": cfg.problem == "binary",
        }
        rows, result = _stream(conn, query, columns, spec, progress)
        _check_result(cfg, query, window, rows, result, lambda: rows_in_table(conn, query))
        if result.get("odd_values"):
            extract_values.check(conn, query, cfg, columns, [lay.target, *lay.features])
    raw = {"rows": rows, **result["raw"]}
    features = [columns[i].name for i in lay.features]
    schema = {"target": cfg.target, "features": features, "problem": cfg.problem}
    schema_bytes = (json.dumps(schema, indent=2) + "\n").encode()
    (out_dir / "schema.json").write_bytes(schema_bytes)
    files = {
        "raw.csv": raw,
        **{f"{s}.csv": result["files"][s] for s in SPLITS},
        "schema.json": {
            "bytes": len(schema_bytes),
            "sha256": hashlib.sha256(schema_bytes).hexdigest(),
        },
    }
    return LocalDataset(
        out_dir,
        window,
        columns,
        features,
        {s: result["files"][s]["rows"] for s in SPLITS},
        files,
        dataset_sha256(files),
        time.monotonic() - started,
    )


# Fewer rows cannot say anything in three splits: a 3-row table gave one row to each, and a
# gate judged a model on one test row (issue 27).
MIN_ROWS = 10


def _check_result(
    cfg: ModelConfig,
    query: warehouse.Query,
    window: Window,
    rows: int,
    result: dict,
    table_rows: Callable[[], int],
) -> None:
    if rows == 0:
        raise UserError(
            f"the query returned no rows for the window {window} (without the window it "
            f"returns {table_rows()}); widen it with --start/--end or window.start, or check "
            "the WHERE clause",
            query.path,
        )
    if result["missing_targets"]:
        raise UserError(
            f"the target column {cfg.target!r} is NULL in "
            f"{result['missing_targets']} of {rows} rows; filter them out in the "
            f"query (WHERE {cfg.target} IS NOT NULL)",
            query.path,
        )
    if rows < MIN_ROWS:
        raise UserError(
            f"only {rows} rows in the window {window} (without the window the query returns "
            f"{table_rows()}): fewer than {MIN_ROWS}, too few to train, validate and test a "
            "model; widen the window (--start/--end or window.start) or add rows",
            query.path,
        )
    empty = [s for s in SPLITS if result["files"][s]["rows"] == 0]
    if empty:
        raise UserError(
            f"only {rows} rows in the window {window} (without the window the query returns "
            f"{table_rows()}): too few for a non-empty {' and '.join(empty)} split; widen "
            "the window (--start/--end or window.start)",
            query.path,
        )


def dataset_sha256(files: dict[str, dict]) -> str:
    """sha256 over the train, validation and test files: of the lines `<sha256>  <name>`
    (sha256sum's format), so it is recomputable from lineage.json or the files alone."""
    text = "".join(f"{files[f'{s}.csv']['sha256']}  {s}.csv\n" for s in SPLITS)
    return hashlib.sha256(text.encode()).hexdigest()


# --- the stage -------------------------------------------------------------------------------


def training_aws(repo: Repo) -> Aws:
    from mmeops.aws import for_account

    t = repo.settings.training
    return for_account(t.account_id, t.region, t.role_arn)


def extract(
    repo: Repo,
    model_name: str,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    run_id: str | None = None,
    out_dir: str | Path | None = None,
    progress: Progress | None = None,
) -> ExtractResult:
    """Extract `model_name`'s dataset for the window and upload it under a new run id."""
    cfg = repo.model(model_name)
    window = resolve_window(cfg, start, end)
    if run_id is not None and not RUN_ID.match(run_id):
        raise UserError(
            f"run id {run_id!r} is not of the form YYYYMMDDTHHMMSSZ-xxxxxx (run ids sort by time)"
        )
    run_id = run_id or new_run_id()
    if training_aws(repo).head(
        repo.settings.bucket, dataset_prefix(cfg.name, run_id) + "lineage.json"
    ):
        raise UserError(
            f"dataset {run_id} of {cfg.name} already exists; datasets are never "
            "overwritten: pick another --run-id or omit it"
        )
    started = dt.datetime.now(dt.timezone.utc)
    dsn = warehouse.resolve_dsn(
        repo.settings.warehouse, repo.sources["settings"], lambda: training_aws(repo)
    )
    where = warehouse.location(dsn)
    work = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="mmeops-extract-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        local = build_dataset(repo, model_name, window, dsn, work, progress)
        lineage = _lineage(repo, cfg, run_id, local, where, started)
        (work / "lineage.json").write_text(json.dumps(lineage, indent=2) + "\n")
        _upload(training_aws(repo), repo, cfg.name, run_id, work)
    finally:
        if not out_dir:
            shutil.rmtree(work, ignore_errors=True)
    return ExtractResult(
        run_id=run_id,
        uri=dataset_paths(repo.settings.bucket, cfg.name, run_id).prefix,
        rows=local.rows,
        bytes={name: f["bytes"] for name, f in local.files.items()},
        dataset_sha256=local.dataset_sha256,
        seconds=local.seconds,
        window=window,
        local_dir=work if out_dir else None,
    )


def _lineage(
    repo: Repo,
    cfg: ModelConfig,
    run_id: str,
    local: LocalDataset,
    where: warehouse.Location,
    started: dt.datetime,
) -> dict:
    query_path = repo.query_path(cfg.name)
    return {
        "model": cfg.name,
        "run_id": run_id,
        "uri": dataset_paths(repo.settings.bucket, cfg.name, run_id).prefix,
        "query": {
            "file": str(query_path.relative_to(repo.root)),
            "sha256": hashlib.sha256(query_path.read_bytes()).hexdigest(),
        },
        "window": {"start": local.window.start.isoformat(), "end": local.window.end.isoformat()},
        "warehouse": {"host": where.host, "port": where.port, "database": where.database},
        "git_commit": current_commit(repo.root),
        "started": started.isoformat(timespec="seconds"),
        "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "rows": sum(local.rows.values()),
        "files": local.files,
        "columns": [{"name": c.name, "type": c.type_name} for c in local.columns],
        "target": cfg.target,
        "time_column": cfg.split.time_column,
        "features": local.features,
        "split": {
            "mode": "time" if cfg.split.time_column else "random",
            "seed": cfg.split.seed,
            "validation": cfg.split.validation,
            "test": cfg.split.test,
        },
        "dataset_sha256": local.dataset_sha256,
    }


def _upload(aws: Aws, repo: Repo, model: str, run_id: str, work: Path) -> None:
    """Data files first, lineage.json last: its presence marks a complete dataset."""
    kms = repo.settings.kms_key_id
    prefix = dataset_prefix(model, run_id)
    for name in (*DATA_FILES, "schema.json", "lineage.json"):
        aws.upload_file(str(work / name), repo.settings.bucket, prefix + name, kms_key_id=kms)
