"""What a PostgreSQL error means for the user, by SQLSTATE class (the first two characters;
PostgreSQL manual, Appendix A "PostgreSQL Error Codes"), not by a list of a few codes.

Classes that describe the warehouse, its resources or the connection are run-time failures
(exit 1: retry, or ask the warehouse's owner); every other class is something the query file
or the role can change (exit 2, at the file's line when the server gives a position).
"""

from __future__ import annotations

# Run-time classes: 08 connection exception, 40 transaction rollback (serialization failure,
# deadlock), 53 insufficient resources (disk full, out of memory), 55 object not in
# prerequisite state (lock not available), 57 operator intervention (shutdown; 57014, a
# statement timeout, is the query's and handled apart), 58 system error (I/O), XX internal
# error, HV foreign data wrapper, F0 configuration file, 72 snapshot failure.
RUNTIME_CLASSES = {
    "08": "connection lost",
    "40": "transaction rolled back by the server (serialization failure or deadlock); retry",
    "53": "the warehouse is out of resources (disk, memory or connections)",
    "55": "an object the query needs is busy or not ready (a lock); retry",
    "57": "the server stopped the query (shutdown or administrator command); retry",
    "58": "a system error on the warehouse (I/O)",
    "XX": "an internal error of the warehouse",
    "HV": "a foreign data wrapper failed",
    "F0": "the warehouse's configuration is broken",
    "72": "a snapshot failure on the warehouse; retry",
}
# A few classes a user meets, named so the message says what kind of problem it is.
QUERY_CLASSES = {
    "0A": "feature not supported",
    "21": "a subquery returned more than one row",
    "22": "bad data",
    "25": "the query tried to write (the session is read-only)",
    "28": "the warehouse user may not do this",
    "2F": "SQL function error",
    "38": "external function error",
    "3F": "unknown schema",
    "42": "syntax error or access rule violation",
    "54": "the query exceeds a PostgreSQL limit",
    "P0": "PL/pgSQL raised an error",
}


def is_runtime(sqlstate: str) -> bool:
    return sqlstate[:2] in RUNTIME_CLASSES


def describe(sqlstate: str) -> str:
    """A short name for the error's class, for the message."""
    return RUNTIME_CLASSES.get(sqlstate[:2]) or QUERY_CLASSES.get(sqlstate[:2], "query error")


class CopyFailed(Exception):
    """The server's error for a COPY run by the C loop (extract.copyout), with the fields
    warehouse.query_errors reads from a psycopg2.Error, so both are reported alike."""

    class Diag:
        def __init__(self, message: str, position: str):
            self.message_primary = message or None
            self.statement_position = position or None

    def __init__(self, code: str, message: str, position: str):
        super().__init__(message)
        self.pgcode = code or None
        self.pgerror = message
        self.diag = CopyFailed.Diag(message, position)
