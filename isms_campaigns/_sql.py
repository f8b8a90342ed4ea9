"""Small DuckDB helpers shared by the modules that own tables (store, outbox)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import duckdb


@contextmanager
def registered(con: duckdb.DuckDBPyConnection, name: str, data: Any) -> Iterator[None]:
    """``data`` (a polars frame or Arrow table) as the view ``name`` for a statement."""
    con.register(name, data)
    try:
        yield
    finally:
        con.unregister(name)


def scalar(con: duckdb.DuckDBPyConnection, query: str, params: Any = None) -> Any:
    """The first value of a query; fetchall() so no result stays open (DuckDB 2 streams)."""
    rows = con.execute(query, params).fetchall()
    return rows[0][0] if rows else None


def rollback(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back the open transaction, if there is one."""
    with suppress(duckdb.Error):  # no transaction was open
        con.rollback()


def first_line(exc: Exception) -> str:
    """An exception's first line: DuckDB's messages go on with context users need not see."""
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
