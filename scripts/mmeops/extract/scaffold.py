"""`mmeops new`: a model folder written from a warehouse table's own catalog, so nobody starts
by copying another model's window, split and gate.

    scaffold(repo, "wine-quality", "public.wine", "is_red") -> Scaffold

Numeric columns become features; the others are listed as left out, each with its reason. The
window starts at the table's first row, the split is on the time column, the tuning and gate
are the demo templates' (log-loss / RMSE early stopping, two gate metrics). The result is
validated like any model, and its query is described by the warehouse, before `new` returns;
on any problem the folder is removed again.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from dataclasses import dataclass
from typing import Any

from psycopg2 import sql as pgsql

from mmeops.config.repo import Repo, load_repo
from mmeops.errors import UserError
from mmeops.extract import run as extract
from mmeops.extract import warehouse

TIME_TYPES = {1082, 1114, 1184}  # date, timestamp, timestamptz
BOOLEAN = 16
TABLE = re.compile(r"^(?:([a-z_][a-z0-9_]*)\.)?([a-z_][a-z0-9_]*)$")
CATALOG = """
SELECT a.attname, a.atttypid::int FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""


@dataclass(frozen=True)
class Scaffold:
    model: str
    folder: str  # models/<model>, relative to the repository
    problem: str
    features: list[str]
    left_out: list[tuple[str, str]]  # (column, reason)
    time_column: str
    start: dt.date
    last: dt.date
    rows: int


def _reason(col: warehouse.Column) -> str:
    if col.type_oid == BOOLEAN:
        return f"boolean: not a number; select {_ident(col.name)}::int in query.sql to use it"
    if col.type_oid in TIME_TYPES:
        return f"{col.type_name}: a second time column; select EXTRACT(EPOCH FROM ...) to use it"
    return f"{col.type_name}: not a number; encode it in query.sql to use it"


def _catalog(conn: Any, schema: str, table: str) -> list[warehouse.Column]:
    with conn.cursor() as cur:
        cur.execute(CATALOG, (schema, table))
        return [warehouse.Column(name, oid) for name, oid in cur.fetchall()]


def _facts(conn: Any, table: pgsql.Composable, time: str, target: str) -> dict:
    t, y = pgsql.Identifier(time), pgsql.Identifier(target)
    query = pgsql.SQL(
        "SELECT min({t})::date, max({t})::date, count(*), count({y}), "
        "bool_and({y}::numeric IN (0, 1)), stddev_pop({y}::float8) FROM {tbl}"
    ).format(t=t, y=y, tbl=table)
    with conn.cursor() as cur:
        cur.execute(query)
        first, last, rows, labelled, zero_one, stddev = cur.fetchone()
    return {"first": first, "last": last, "rows": rows, "labelled": labelled,
            "zero_one": bool(zero_one), "stddev": float(stddev or 0)}  # fmt: skip


def scaffold(
    repo: Repo,
    model: str,
    table: str,
    target: str,
    *,
    problem: str | None = None,
    time_column: str | None = None,
) -> Scaffold:
    folder = repo.root / "models" / model
    if folder.exists():
        raise UserError(f"models/{model} already exists; pick another name or edit it")
    match = TABLE.match(table)
    if not match:
        raise UserError(f"--table {table!r} is not SCHEMA.TABLE in lower case (e.g. public.wine)")
    schema, name = match.group(1) or "public", match.group(2)
    dsn = warehouse.resolve_dsn(
        repo.settings.warehouse, repo.sources["settings"], lambda: extract.training_aws(repo)
    )
    with warehouse.connect(dsn, repo.settings.warehouse.statement_timeout_s) as conn:
        columns = _catalog(conn, schema, name)
        if not columns:
            raise UserError(f"table {schema}.{name} is not in the warehouse (or not readable)")
        by_name = {c.name: c for c in columns}
        if target not in by_name:
            raise UserError(
                f"--target {target!r} is not a column of {schema}.{name} "
                f"(columns: {', '.join(by_name)})"
            )
        time = time_column or next((c.name for c in columns if c.type_oid in TIME_TYPES), None)
        if time is None:
            raise UserError(
                f"{schema}.{name} has no date or timestamp column to window and split on; add "
                "one, or write the model folder by hand (docs/add-a-model.md)"
            )
        if time not in by_name or by_name[time].type_oid not in TIME_TYPES:
            kind = by_name[time].type_name if time in by_name else "not a column of the table"
            raise UserError(
                f"--time-column {time!r} is {kind}, not a date or timestamp; name one of "
                f"{', '.join(c.name for c in columns if c.type_oid in TIME_TYPES) or 'none'}"
            )
        if time == target:
            raise UserError("--target and --time-column name the same column")
        label = by_name[target]
        if not (label.numeric or label.type_oid == BOOLEAN):
            raise UserError(
                f"--target {target!r} is {label.type_name}, not a number or a boolean; "
                "add a numeric label column"
            )
        facts = _facts(conn, pgsql.Identifier(schema, name), time, target)
    if facts["rows"] < extract.MIN_ROWS:
        raise UserError(
            f"table {schema}.{name} has {facts['rows']} rows, fewer than {extract.MIN_ROWS}: "
            "too few to train, validate and test a model"
        )
    problem = problem or ("binary" if facts["zero_one"] else "regression")
    if problem == "binary" and not facts["zero_one"]:
        raise UserError(
            f"--problem binary needs a target of 0 and 1, and {target!r} holds other values"
        )
    features = [c.name for c in columns if c.numeric and c.name not in (target, time)]
    left_out = [
        (c.name, _reason(c)) for c in columns if c.name not in (target, time) and not c.numeric
    ]
    if not features:
        raise UserError(f"{schema}.{name} has no numeric column besides the target to learn from")
    alias = _aliases([*features, time, target])
    folder.mkdir(parents=True)
    try:
        (folder / "query.sql").write_text(_query(schema, name, features, time, label, alias))
        (folder / "model.yaml").write_text(
            _model_yaml(
                model, problem, alias[target], alias[time], facts, f"{schema}.{name}", left_out
            )
        )
        _validate(repo, model)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return Scaffold(
        model, f"models/{model}", problem, [alias[f] for f in features], left_out, alias[time],
        facts["first"],
        facts["last"], facts["rows"],
    )  # fmt: skip


def _ident(name: str) -> str:
    """A column name as SQL: quoted (a `"` doubled, as PostgreSQL reads it) unless plain."""
    if warehouse.simple_name(name) and name == name.lower():
        return name
    return '"' + name.replace('"', '""') + '"'


_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _text(name: str) -> str:
    """A column name in a YAML value or a comment: as is when plain, else JSON-quoted (a YAML
    double-quoted scalar), so a `"`, a `#` or a line break cannot end the value or comment."""
    return name if _PLAIN.fullmatch(name) else json.dumps(name)


def _percent(text: str) -> str:
    # query.sql runs with bound parameters: psycopg2 reads every `%` in it, comments too.
    return text.replace("%", "%%")


def _bound(name: str) -> str:
    return _percent(_ident(name))


def _aliases(names: list[str]) -> dict[str, str]:
    """Each selected column's name in the result: its own when model.yaml accepts it (lower
    case, letters, digits and `_`), else a readable one it accepts, unique among them."""
    out: dict[str, str] = {}
    for name in names:
        plain = re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_") or "column"
        plain = plain if _CONFIG_NAME.fullmatch(plain) else f"c_{plain}"[:63]
        candidate, n = plain, 1
        while candidate in out.values() or (candidate != name and candidate in names):
            n += 1
            candidate = f"{plain[:59]}_{n}"
        out[name] = name if _CONFIG_NAME.fullmatch(name) else candidate
    return out


# What model.yaml accepts as a column name (config/kinds.py's pattern).
_CONFIG_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _query(
    schema: str,
    table: str,
    features: list[str],
    time: str,
    label: warehouse.Column,
    alias: dict[str, str],
):
    def column(name: str, cast: str = "") -> str:
        as_ = f" AS {alias[name]}" if cast or alias[name] != name else ""
        return f"{_bound(name)}{cast}{as_}"

    cast = "::int" if label.type_oid == BOOLEAN else ""
    lines = ",\n       ".join([*map(column, features), column(time), column(label.name, cast)])
    return (
        f"-- Written by `mmeops new` from {schema}.{table}: numeric columns as features, the\n"
        f"-- time column {_percent(_text(time))} (the window and the split), the target last.\n"
        f"SELECT {lines}\n"
        f"FROM {_bound(schema)}.{_bound(table)}\n"
        f"WHERE {_bound(time)} >= %(start_date)s\n"
        f"  AND {_bound(time)} < %(end_date)s\n"
        f"ORDER BY {_bound(time)}\n"
    )


def _image_version() -> str:
    """The newest serving image that runs the xgboost installed here: they must match."""
    from mmeops import artifact
    from mmeops.config.kinds import XGBOOST_IMAGE_VERSIONS

    same = [
        v
        for v in XGBOOST_IMAGE_VERSIONS
        if artifact.serving_version(v) == artifact.library_version()
    ]
    return same[-1] if same else XGBOOST_IMAGE_VERSIONS[-1]


# Shared by both templates: the search both demo models use.
SEARCH = """  max_jobs: 12
  max_parallel_jobs: 2
  ranges:
    eta: {type: continuous, min: 0.01, max: 0.3, scaling: Logarithmic}
    max_depth: {type: integer, min: 2, max: 6}
"""

BINARY = """    objective: binary:logistic
    num_round: 200
    # Early stopping follows the tuning objective (the SageMaker XGBoost container's rule):
    # log-loss keeps improving where AUC saturates at 1.0 (docs/model-config.md).
    early_stopping_rounds: 20
tuning:
  objective_metric: validation:logloss
  direction: Minimize
<SEARCH>    min_child_weight: {type: continuous, min: 1, max: 10, scaling: Logarithmic}
    colsample_bytree: {type: continuous, min: 0.5, max: 1.0}
gate:
  # A ranking metric and a thresholded one: AUC alone passed a model that never predicted
  # the positive class.
  metric: auc
  bound: 0.9
  tolerance: 0.01
  also:
    - {metric: f1, bound: 0.8, tolerance: 0.05}
"""

REGRESSION = """    objective: reg:squarederror
    num_round: 300
    early_stopping_rounds: 20
tuning:
  objective_metric: validation:rmse
  direction: Minimize
<SEARCH>    min_child_weight: {type: continuous, min: 1, max: 20, scaling: Logarithmic}
    subsample: {type: continuous, min: 0.5, max: 1.0}
    lambda: {type: continuous, min: 0.01, max: 10, scaling: Logarithmic}
gate:
  # The target's standard deviation (<BOUND>): the RMSE of always predicting the mean.
  metric: rmse
  bound: <BOUND>
  tolerance: 0.05
  # RMSE alone passes a model that predicts a near-constant: it must explain some variance.
  also:
    - {metric: r2, bound: 0.2, tolerance: 0.05}
"""


def _model_yaml(
    model: str, problem: str, target: str, time: str, facts: dict, table: str, left_out: list
) -> str:
    skipped = "".join(f"#   {_text(n)}: {json.dumps(why)[1:-1]}\n" for n, why in left_out)
    skipped = skipped or "#   none\n"
    template = BINARY if problem == "binary" else REGRESSION
    tail = template.replace("<SEARCH>", SEARCH).replace("<BOUND>", f"{facts['stddev']:.4g}")
    return (
        f"# Written by `mmeops new` from {table}: {facts['rows']} rows from {facts['first']} "
        f"to {facts['last']}.\n"
        f"# Columns left out (edit query.sql to use them):\n{skipped}"
        f"name: {model}\n"
        f"problem: {problem}\n"
        f"target: {_text(target)}\n"
        "query: query.sql\n"
        "window:\n"
        "  # The table's first day: the window covers all of its rows.\n"
        f"  start: {facts['first']}\n"
        "  lag_days: 0\n"
        "split:\n"
        "  validation: 0.2\n"
        "  test: 0.2\n"
        "  seed: 0\n"
        f"  # Validation and test are the newest rows by {_text(time)}: the model is judged on\n"
        "  # rows later than those it learned from, as it will be used.\n"
        f"  time_column: {_text(time)}\n"
        "xgboost:\n"
        f'  image_version: "{_image_version()}"\n'
        "  static_hyperparameters:\n"
        f"{tail}"
    )


def _validate(repo: Repo, model: str) -> None:
    """The folder as `mmeops validate` and `mmeops extract` would see it."""
    fresh = load_repo(repo.root)
    window = extract.resolve_window(fresh.model(model), None, None)
    query = extract.load_query(fresh, model, window)
    dsn = warehouse.resolve_dsn(
        fresh.settings.warehouse, fresh.sources["settings"], lambda: extract.training_aws(fresh)
    )
    with warehouse.connect(dsn, fresh.settings.warehouse.statement_timeout_s) as conn:
        columns = warehouse.describe(conn, query)
    extract.layout(fresh, fresh.model(model), columns, query.path)
