"""`mmeops extract`: the warehouse's rows become a dataset in S3 that the XGBoost container
reads as is, with lineage a reviewer can check, and every bad input stops before an upload."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import math
import os
import re
from pathlib import Path

import psycopg2
import pytest
from click.testing import CliRunner

from helpers import warehouse_sql
from mmeops.cli import main
from mmeops.config.repo import load_repo
from mmeops.extract import run as extract
from mmeops.extract import warehouse

SCHEMA = "xt"
# 3.4028234663852886e38 is float32's largest; beyond it extract refuses (test_extract_values.py).
EDGE_FLOATS = [0.30000000000000004, -0.0, 1e-300, 5e-324, 3.4028234663852886e38,
               123456.78901234567, None]  # fmt: skip


@pytest.fixture(scope="module")
def tables(stack) -> None:
    """Rows of our own, beside the stack's demo tables."""
    warehouse_sql(f"""
        DROP SCHEMA IF EXISTS {SCHEMA} CASCADE;
        CREATE SCHEMA {SCHEMA};
        -- 100 rows a day from 2025-01-01 to 2025-01-10, ids in time order.
        CREATE TABLE {SCHEMA}.daily (id int, day date, x double precision, y double precision);
        INSERT INTO {SCHEMA}.daily
            SELECT g, date '2025-01-01' + (g - 1) / 100, g * 0.5, g % 7
            FROM generate_series(1, 1000) g;
        CREATE TABLE {SCHEMA}.edges (id int, day date, f double precision,
                                      n numeric, big bigint, y int);
        CREATE TABLE {SCHEMA}.labels (id int, day date, name text, flag boolean, y int);
        INSERT INTO {SCHEMA}.labels VALUES (1, '2025-01-02', 'a', true, 1);
    """)  # fmt: skip
    rows = [(i, f, n, b) for i, (f, n, b) in enumerate(zip(
        EDGE_FLOATS * 3,
        ["3.14159265358979323846264338327950288", "-0", "1e-300", "0", "1", "2", None] * 3,
        [9007199254740993, 0, -1, None, 2**62, 7, 8] * 3, strict=True))]  # fmt: skip
    for i, f, n, b in rows:
        warehouse_sql(
            f"INSERT INTO {SCHEMA}.edges VALUES (%s, '2025-01-02', %s, %s::numeric, %s, %s)",
            i,
            f,
            n,
            b,
            i % 2,
        )


def add_model(
    root: Path,
    name: str,
    query: str,
    *,
    target: str = "y",
    time_column: str | None = None,
    seed: int = 7,
) -> str:
    """A model folder in the repo copy: the diabetes model's settings with our query."""
    text = (root / "models" / "diabetes-progression" / "model.yaml").read_text()
    text = text.replace("name: diabetes-progression", f"name: {name}")
    text = text.replace("target: progression", f"target: {target}")
    text = text.replace("seed: 7", f"seed: {seed}")
    text = text.replace(
        "  time_column: event_date\n", f"  time_column: {time_column}\n" if time_column else ""
    )
    (root / "models" / name).mkdir()
    (root / "models" / name / "model.yaml").write_text(text)
    (root / "models" / name / "query.sql").write_text(query)
    return name


DAILY = f"""SELECT id, day, x, y FROM {SCHEMA}.daily
WHERE day >= %(start_date)s AND day < %(end_date)s
ORDER BY id
"""


def cli(root: Path, *args: str, env: dict | None = None):
    return CliRunner().invoke(main, ["--repo", str(root), "extract", *args], env=env)


def s3_objects(root: Path, model: str) -> dict[str, bytes]:
    repo = load_repo(root)
    aws = extract.training_aws(repo)
    bucket = repo.settings.bucket
    return {
        o.key: aws.get_bytes(bucket, o.key)[0]
        for o in aws.list_objects(bucket, f"datasets/{model}/")
    }


def read_rows(path: Path) -> list[list[str]]:
    return [line.split(",") for line in path.read_text().splitlines()]


# --- what a user gets ------------------------------------------------------------------------


def test_extract_uploads_a_dataset_the_container_reads_with_lineage_that_checks_out(
    tables, repo_copy, tmp_path
):
    model = add_model(repo_copy, "daily-random", DAILY.replace("id, day", "id"))
    summary = tmp_path / "summary.md"
    result = cli(
        repo_copy,
        model,
        "--start",
        "2025-01-03",
        "--end",
        "2025-01-08",
        env={"GITHUB_STEP_SUMMARY": str(summary)},
    )
    assert result.exit_code == 0, result.output
    # 5 days x 100 rows; 20% validation, 20% test, exactly.
    assert "500 rows (train 300, validation 100, test 100)" in result.output
    assert "rows/s" in result.output
    assert "500 rows" in summary.read_text()

    objects = s3_objects(repo_copy, model)
    (prefix,) = {k.rsplit("/", 1)[0] for k in objects}
    lineage = json.loads(objects[f"{prefix}/lineage.json"])
    for name, figures in lineage["files"].items():
        body = objects[f"{prefix}/{name}"]
        assert figures["sha256"] == hashlib.sha256(body).hexdigest(), name
        assert figures["bytes"] == len(body), name
    listing = "".join(
        f"{hashlib.sha256(objects[f'{prefix}/{s}.csv']).hexdigest()}  {s}.csv\n"
        for s in extract.SPLITS
    )
    assert lineage["dataset_sha256"] == hashlib.sha256(listing.encode()).hexdigest()
    assert lineage["window"] == {"start": "2025-01-03", "end": "2025-01-08"}
    assert lineage["features"] == ["id", "x"]
    assert (
        lineage["query"]["sha256"]
        == hashlib.sha256((repo_copy / "models" / model / "query.sql").read_bytes()).hexdigest()
    )
    assert set(lineage["warehouse"]) == {"host", "port", "database"}
    assert re.fullmatch(r"[0-9a-f]{40}|unknown", lineage["git_commit"])
    assert json.loads(objects[f"{prefix}/schema.json"]) == {
        "target": "y",
        "features": ["id", "x"],
        "problem": "regression",
    }

    # The training files: label first, no header, and only rows inside the window.
    ids = []
    for split in extract.SPLITS:
        for row in csv.reader(io.StringIO(objects[f"{prefix}/{split}.csv"].decode())):
            label, ident, x = row
            assert float(x) == int(ident) * 0.5 and float(label) == int(ident) % 7
            ids.append(int(ident))
    assert sorted(ids) == list(range(201, 701))
    raw = list(csv.reader(io.StringIO(objects[f"{prefix}/raw.csv"].decode())))
    assert raw[0] == ["id", "x", "y"] and len(raw) == 501


def test_the_split_is_the_same_for_the_same_seed_and_rows(tables, repo_copy, tmp_path):
    query = DAILY.replace("id, day", "id")
    add_model(repo_copy, "seed-a", query, seed=3)
    add_model(repo_copy, "seed-b", query, seed=3)
    add_model(repo_copy, "seed-c", query, seed=4)
    repo = load_repo(repo_copy)
    window = extract.Window(dt.date(2025, 1, 1), dt.date(2025, 1, 10))
    dsn = os.environ["MMEOPS_WAREHOUSE_DSN"]
    built = {}
    for name in ("seed-a", "seed-b", "seed-c"):
        (tmp_path / name).mkdir()
        built[name] = extract.build_dataset(repo, name, window, dsn, tmp_path / name)
    assert built["seed-a"].dataset_sha256 == built["seed-b"].dataset_sha256
    assert built["seed-a"].dataset_sha256 != built["seed-c"].dataset_sha256
    assert built["seed-a"].rows == {"train": 540, "validation": 180, "test": 180}


@pytest.mark.parametrize("rows", [1000, 997, 13])
def test_split_sizes_match_the_fractions_to_within_one_row(tables, repo_copy, tmp_path, rows):
    name = add_model(
        repo_copy,
        f"sizes-{rows}",
        DAILY.replace("id, day", "id").replace("ORDER BY", f"AND id <= {rows} ORDER BY"),
    )
    window = extract.Window(dt.date(2025, 1, 1), dt.date(2026, 1, 1))
    local = extract.build_dataset(
        load_repo(repo_copy), name, window, os.environ["MMEOPS_WAREHOUSE_DSN"], tmp_path
    )
    assert sum(local.rows.values()) == rows
    assert abs(local.rows["validation"] - rows * 0.2) <= 1
    assert abs(local.rows["test"] - rows * 0.2) <= 1


@pytest.mark.parametrize("time_column", [None, "day"], ids=["random", "time"])
def test_without_the_c_loops_extract_writes_the_same_files(
    tables, repo_copy, tmp_path, monkeypatch, time_column
):
    query = DAILY if time_column else DAILY.replace("id, day", "id")
    name = add_model(repo_copy, f"pure-{time_column or 'random'}", query, time_column=time_column)
    repo = load_repo(repo_copy)
    window = extract.Window(dt.date(2025, 1, 1), dt.date(2026, 1, 1))
    built = {}
    for pure in ("0", "1"):
        monkeypatch.setenv("MMEOPS_PURE_PYTHON", pure)
        (tmp_path / pure).mkdir()
        built[pure] = extract.build_dataset(
            repo, name, window, os.environ["MMEOPS_WAREHOUSE_DSN"], tmp_path / pure
        )
    assert built["1"].files == built["0"].files
    assert sum(built["1"].rows.values()) == 1000


def test_column_names_that_need_quoting_give_the_same_training_files(tables, repo_copy, tmp_path):
    plain = add_model(repo_copy, "names-plain", DAILY.replace("id, day", "id"))
    quoted = add_model(repo_copy, "names-quoted", DAILY.replace(
        "id, day, x", 'id AS "row id", x AS "x, scaled ""2x"""'))  # fmt: skip
    repo = load_repo(repo_copy)
    window = extract.Window(dt.date(2025, 1, 1), dt.date(2026, 1, 1))
    built = {}
    for name in (plain, quoted):
        (tmp_path / name).mkdir()
        built[name] = extract.build_dataset(
            repo, name, window, os.environ["MMEOPS_WAREHOUSE_DSN"], tmp_path / name
        )
    assert built[quoted].features == ["row id", 'x, scaled "2x"']
    assert built[quoted].dataset_sha256 == built[plain].dataset_sha256
    with open(tmp_path / quoted / "raw.csv", newline="") as f:
        assert next(csv.reader(f)) == ["row id", 'x, scaled "2x"', "y"]


def test_with_a_time_column_the_newest_rows_are_validation_and_test(tables, repo_copy, tmp_path):
    name = add_model(repo_copy, "daily-time", DAILY, time_column="day")
    window = extract.Window(dt.date(2025, 1, 1), dt.date(2026, 1, 1))
    local = extract.build_dataset(
        load_repo(repo_copy), name, window, os.environ["MMEOPS_WAREHOUSE_DSN"], tmp_path
    )
    assert local.features == ["id", "x"]  # the time column is not a feature
    ids = {s: [int(r[1]) for r in read_rows(tmp_path / f"{s}.csv")] for s in extract.SPLITS}
    assert ids["train"] == list(range(1, 601))
    assert ids["validation"] == list(range(601, 801))
    assert ids["test"] == list(range(801, 1001))
    for s in extract.SPLITS:
        data = (tmp_path / f"{s}.csv").read_bytes()
        assert local.files[f"{s}.csv"]["sha256"] == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("order", ["ORDER BY id DESC", "ORDER BY random()"])
def test_the_time_split_holds_out_the_newest_rows_whatever_order_the_query_gives(
    tables, repo_copy, tmp_path, order
):
    """Issue 27: with `time_column` set and a query that does not order by it, the "newest
    rows" split held out whatever came last (here the oldest days). Extract sorts on the
    time column itself; within one day any order is the newest."""
    query = DAILY.replace("ORDER BY id", order)
    name = add_model(repo_copy, f"daily-{order.split()[-1][:4].lower()}", query, time_column="day")
    window = extract.Window(dt.date(2025, 1, 1), dt.date(2026, 1, 1))
    extract.build_dataset(
        load_repo(repo_copy), name, window, os.environ["MMEOPS_WAREHOUSE_DSN"], tmp_path
    )
    ids = {s: sorted(int(r[1]) for r in read_rows(tmp_path / f"{s}.csv")) for s in extract.SPLITS}
    assert ids["train"] == list(range(1, 601))
    assert ids["validation"] == list(range(601, 801))
    assert ids["test"] == list(range(801, 1001))


def test_numeric_edge_values_parse_back_to_the_same_floats(tables, repo_copy, tmp_path):
    name = add_model(
        repo_copy,
        "edges",
        f"""SELECT id, f, n, big, y FROM {SCHEMA}.edges
        WHERE day >= %(start_date)s AND day < %(end_date)s ORDER BY id""",
    )
    window = extract.Window(dt.date(2025, 1, 1), dt.date(2026, 1, 1))
    extract.build_dataset(
        load_repo(repo_copy), name, window, os.environ["MMEOPS_WAREHOUSE_DSN"], tmp_path
    )
    conn = psycopg2.connect(os.environ["MMEOPS_WAREHOUSE_DSN"])
    with conn, conn.cursor() as cur:
        cur.execute(f"SELECT id, f, n::float8, big::float8, y FROM {SCHEMA}.edges")
        expected = {row[0]: row[1:] for row in cur.fetchall()}
    conn.close()
    seen = 0
    for split in extract.SPLITS:
        for label, ident, *values in read_rows(tmp_path / f"{split}.csv"):
            want_f, want_n, want_big, want_y = expected[int(ident)]
            assert float(label) == want_y
            for text, want in zip(values, (want_f, want_n, want_big), strict=True):
                if want is None:
                    # `nan`: the container refuses an empty field in a training CSV and
                    # reads nan as missing (extract.split.missing_as_nan)
                    assert text == "nan"
                else:
                    assert float(text) == want
                    assert math.copysign(1, float(text)) == math.copysign(1, want)
            seen += 1
    assert seen == len(expected)


def test_the_raw_file_keeps_values_that_break_naive_csv(stack, tmp_path):
    values = ['comma, inside', 'a "quoted" word', "two\nlines", "crlf\r\nend", "ünïcødé ✓ 日本",
              "", None, "   spaces  "]  # fmt: skip
    when = dt.datetime(2025, 3, 1, 12, 34, 56, 123456, tzinfo=dt.timezone(dt.timedelta(hours=5)))
    query = warehouse.Query(
        Path("q.sql"),
        """
        SELECT v, %(d)s::date AS d, %(t)s::timestamptz AS t, 1.5::float8 AS x
        FROM unnest(%(values)s::text[]) AS v""",
        {"values": values, "d": dt.date(2025, 2, 28), "t": when},
    )
    with warehouse.connect(os.environ["MMEOPS_WAREHOUSE_DSN"], 30) as conn, \
            open(tmp_path / "raw.csv", "wb") as sink:  # fmt: skip
        assert warehouse.copy_csv(conn, query, sink) == len(values)
    with open(tmp_path / "raw.csv", newline="", encoding="utf-8") as f:
        header, *rows = list(csv.reader(f))
    assert header == ["v", "d", "t", "x"]
    # COPY writes NULL unquoted and an empty string as "", so the two stay apart in the file.
    assert [r[0] for r in rows if r[0] != ""] == [v for v in values if v]
    assert b',""' not in (tmp_path / "raw.csv").read_bytes().split(b"\n")[0]
    for row in rows:
        assert dt.date.fromisoformat(row[1]) == dt.date(2025, 2, 28)
        assert dt.datetime.fromisoformat(row[2]) == when


def test_latest_run_id_is_the_newest_complete_dataset(tables, repo_copy):
    model = add_model(repo_copy, "daily-latest", DAILY.replace("id, day", "id"))
    first = cli(repo_copy, model, "--run-id", "20250101T000000Z-aaaaaa")
    second = cli(repo_copy, model, "--run-id", "20250102T000000Z-bbbbbb")
    assert first.exit_code == 0 and second.exit_code == 0, second.output
    repo = load_repo(repo_copy)
    aws = extract.training_aws(repo)
    assert extract.latest_run_id(aws, repo.settings.bucket, model) == "20250102T000000Z-bbbbbb"
    assert extract.latest_run_id(aws, repo.settings.bucket, "no-such-model") is None
    paths = extract.dataset_paths(repo.settings.bucket, model, "20250102T000000Z-bbbbbb")
    assert paths.train == (
        f"s3://{repo.settings.bucket}/datasets/{model}/20250102T000000Z-bbbbbb/train.csv"
    )
    again = cli(repo_copy, model, "--run-id", "20250102T000000Z-bbbbbb")
    assert again.exit_code == 2 and "already exists" in again.output


SECRET = "mmeops/warehouse-extract-test"  # the training role reads mmeops/warehouse-*


def test_the_dsn_can_come_from_secrets_manager(tables, repo_copy):
    model = add_model(repo_copy, "daily-secret", DAILY.replace("id, day", "id"))
    settings = (repo_copy / "mmeops.yaml").read_text()
    (repo_copy / "mmeops.yaml").write_text(
        settings.replace("dsn_env: MMEOPS_WAREHOUSE_DSN", f"secret_id: {SECRET}")
    )
    from mmeops.stack.embedded import EmbeddedStack

    # Seeding as the stack's admin: the training role may only read the secret.
    aws = EmbeddedStack.current.admin(load_repo(repo_copy).settings.training.account_id)
    aws.call(
        "secretsmanager",
        "create_secret",
        Name=SECRET,
        SecretString=json.dumps({"dsn": os.environ["MMEOPS_WAREHOUSE_DSN"]}),
    )
    result = cli(repo_copy, model, env={"MMEOPS_WAREHOUSE_DSN": None})
    assert result.exit_code == 0, result.output


# --- bad input: exit 2, one line, nothing uploaded, no password ------------------------------

BAD = {
    "syntax": (
        f"SELECT id, x, y FROM {SCHEMA}.daily WHERE day >= %(start_date)s\n"
        "AND day < %(end_date)s ORDER BY BY id",
        r"query\.sql:2: PostgreSQL: syntax error",
    ),
    "no-target": (
        DAILY.replace(", y FROM", " FROM"),
        r"model\.yaml:\d+: target column 'y' is not in the result",
    ),
    "text-feature": (
        f"SELECT id, name, y FROM {SCHEMA}.labels WHERE day >= %(start_date)s "
        "AND day < %(end_date)s",
        r"feature column 'name' is text.*encode it",
    ),
    "bool-feature": (
        f"SELECT id, flag, y FROM {SCHEMA}.labels WHERE day >= %(start_date)s "
        "AND day < %(end_date)s",
        r"feature column 'flag' is boolean.*flag::int",
    ),
    "date-feature": (DAILY, r"feature column 'day' is date.*EXTRACT\(EPOCH FROM day\)"),
    "empty": (
        DAILY.replace("id, day", "id").replace("WHERE", "WHERE false AND"),
        r"no rows for the window 2025-01-01 to 2025-02-01",
    ),
    "timeout": (
        f"SELECT id, x, y FROM {SCHEMA}.daily, pg_sleep(3) WHERE day >= %(start_date)s "
        "AND day < %(end_date)s",
        r"longer than warehouse.statement_timeout_s \(1 s\)",
    ),
    "unbound": (f"SELECT id, x, y FROM {SCHEMA}.daily", r"does not use %\(start_date\)s"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_queries_exit_2_with_one_line_and_upload_nothing(tables, repo_copy, case):
    query, message = BAD[case]
    model = add_model(repo_copy, f"bad-{case}", query)
    if case == "timeout":
        settings = (repo_copy / "mmeops.yaml").read_text()
        (repo_copy / "mmeops.yaml").write_text(
            settings.replace("statement_timeout_s: 600", "statement_timeout_s: 1")
        )
    result = cli(repo_copy, model, "--start", "2025-01-01", "--end", "2025-02-01")
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert re.search(message, result.output), result.output
    assert s3_objects(repo_copy, model) == {}
    password = psycopg2.extensions.parse_dsn(os.environ["MMEOPS_WAREHOUSE_DSN"])["password"]
    assert password not in result.output


def test_an_unreachable_warehouse_names_host_and_port_but_never_the_password(tables, repo_copy):
    from mmeops.stack.postgres import free_port

    model = add_model(repo_copy, "daily-down", DAILY)
    port = free_port()
    dsn = f"postgresql://mmeops:Sup3r-s3cret-pw@127.0.0.1:{port}/warehouse"
    result = cli(repo_copy, model, env={"MMEOPS_WAREHOUSE_DSN": dsn})
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"Error: cannot connect to the warehouse at 127.0.0.1:{port} (database warehouse): "
        "connection refused; is PostgreSQL running there and is the DSN's host/port right?"
    ]
    assert "Sup3r-s3cret-pw" not in result.output and "Sup3r" not in repr(result.exception)
    assert s3_objects(repo_copy, model) == {}


def test_an_unknown_model_exits_2(stack, repo_copy):
    result = cli(repo_copy, "no-such-model")
    assert result.exit_code == 2
    assert "unknown model 'no-such-model'" in result.output
