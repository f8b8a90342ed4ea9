"""Small DuckDB helpers shared by the modules that own tables (store, outbox)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, TypeVar

import duckdb

T = TypeVar("T")


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


def retrying(con: duckdb.DuckDBPyConnection, transaction: Callable[[], T], tries: int = 5) -> T:
    """Run ``transaction`` (which begins and commits), again when DuckDB reports a write
    conflict with another transaction of this database (an import and the end of a
    send touching the same messages): the next try sees what that one committed."""
    for attempt in range(tries):
        try:
            return transaction()
        except duckdb.TransactionException:
            rollback(con)
            if attempt == tries - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
        except BaseException:
            rollback(con)
            raise
    raise AssertionError("unreachable")
