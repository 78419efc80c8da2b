"""Values the warehouse holds but training cannot use, refused before anything is uploaded.

Two steps, so the warehouse runs the model's query once on a clean extract: the split scans
its lines for the only text such values can take (extract_scan.py); only when it saw
some does `check` ask the warehouse, in one aggregate query over the model's query, which
column and value it is. (Run on every extract, that query would scan and sort the query's
rows a second time: on a production warehouse the query is often the expensive part.)

XGBoost stores features and labels as float32: a `double precision` of 1.797e308 is finite
in PostgreSQL and infinite in XGBoost, and `Infinity`, `-Infinity` and `NaN` are valid
PostgreSQL floats. A NaN label cannot be learned from, and binary:logistic needs labels in
{0, 1}. A NaN or NULL feature is fine: XGBoost reads it as missing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from psycopg2 import sql as pgsql

from mmeops.config.kinds import ModelConfig
from mmeops.errors import UserError
from mmeops.extract import warehouse

FLOAT32_MAX = 3.4028234663852886e38  # numpy.finfo(numpy.float32).max
# Only these types can hold NaN, an infinity or a number beyond float32 (bigint's largest,
# 9.2e18, is far inside it).
FLOATING = {"real", "double precision", "numeric"}


def _probes(col: warehouse.Column, is_target: bool, binary: bool) -> list[tuple[str, Any]]:
    """(kind, SQL expression) pairs: each expression yields an offending value, or NULL."""
    floating = col.type_name in FLOATING
    fmt = {"c": pgsql.Identifier(col.name), "b": pgsql.Literal(FLOAT32_MAX)}
    text: list[tuple[str, str]] = []
    if floating:
        # NaN sorts above every number in PostgreSQL: left out of "too large".
        text.append(("range", "max({c}) FILTER (WHERE {c} > {b} AND {c} <> 'NaN')"))
        text.append(("range", "min({c}) FILTER (WHERE {c} < -{b})"))
    if is_target and floating:
        text.append(("nan", "nullif(count(*) FILTER (WHERE {c} = 'NaN'), 0)"))
    if is_target and binary:
        not_nan = " AND {c} <> 'NaN'" if floating else ""
        text.append(("label", "min({c}) FILTER (WHERE {c} NOT IN (0, 1)" + not_nan + ")"))
    return [(kind, pgsql.SQL(t).format(**fmt)) for kind, t in text]


def _over(bound_sql: str, select: str) -> tuple[str, int]:
    """`SELECT <select>` over the query's rows, and the lines before the query's first line
    (for warehouse.query_errors to map an error back to query.sql). The line breaks keep a
    trailing `-- comment` in the query from swallowing the parenthesis."""
    return f"SELECT {select} FROM (\n{bound_sql}\n) AS q", 1


def check(
    conn: Any,
    query: warehouse.Query,
    cfg: ModelConfig,
    columns: list[warehouse.Column],
    used: list[int],
) -> None:
    """Raise UserError naming the first column and value training cannot use."""
    probes = [
        (columns[i], kind, expr)
        for i in used
        for kind, expr in _probes(
            columns[i], columns[i].name == cfg.target, cfg.problem == "binary"
        )
    ]
    if not probes:
        return
    with conn.cursor() as cur:
        select = pgsql.SQL(", ").join(expr for _, _, expr in probes).as_string(cur)
        text, before = _over(query.bound(cur), select)
        with warehouse.query_errors(query, text, before):
            cur.execute(text)
            found = cur.fetchone()
    for (col, kind, _), value in zip(probes, found, strict=True):
        if value is None:
            continue
        raise UserError(_message(col, kind, value, cfg), query.path)


def _shown(value: Any) -> str:
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    return str(value)


def _message(col: warehouse.Column, kind: str, value: Any, cfg: ModelConfig) -> str:
    if kind == "nan":
        return (
            f"target column {col.name!r} is NaN in {value} rows; a label must be a number: "
            f"filter them out in the query (WHERE {col.name} <> 'NaN')"
        )
    if kind == "label":
        return (
            f"target column {col.name!r} holds {_shown(value)}, but a binary model's labels "
            "are 0 or 1; map them in the query (CASE ... THEN 1 ELSE 0 END) or filter them out"
        )
    role = "target" if col.name == cfg.target else "feature"
    return (
        f"{role} column {col.name!r} holds {_shown(value)}, outside float32's finite range "
        f"(±{FLOAT32_MAX:.7g}) that XGBoost stores it in; filter or clip it in the query "
        f"(e.g. WHERE abs({col.name}) <= 3.4e38), or NULL it to mean missing"
    )


def rows_in_table(conn: Any, query: warehouse.Query) -> int:
    """How many rows the query returns with no window at all: what a wider window would get."""
    every = warehouse.Query(
        query.path,
        query.text,
        {**query.params, "start_date": dt.date.min, "end_date": dt.date.max},
        query.timeout_s,
    )
    with conn.cursor() as cur:
        text, before = _over(every.bound(cur), "count(*)")
        with warehouse.query_errors(every, text, before):
            cur.execute(text)
            return int(cur.fetchone()[0])
