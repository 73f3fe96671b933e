"""What the services asked of PostgreSQL: pg_stat_statements over a measured window.

Available when the server preloads ``pg_stat_statements`` (the embedded one does);
elsewhere the bench says so instead of guessing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import psycopg

from orderly_dev.servers import Postgres


@dataclass(frozen=True)
class Statement:
    database: str
    calls: int
    total_ms: float
    query: str

    @property
    def mean_ms(self) -> float:
        return self.total_ms / self.calls if self.calls else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "calls": self.calls,
            "total_ms": round(self.total_ms, 1),
            "mean_ms": round(self.mean_ms, 3),
            "query": self.query,
        }


@dataclass(frozen=True)
class StatementStats:
    """Calls and execution time per database, and the statements that took the most."""

    calls: dict[str, int]
    total_ms: dict[str, float]
    top: list[Statement]
    most_called: list[Statement]

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls_by_database": self.calls,
            "exec_ms_by_database": {k: round(v, 1) for k, v in self.total_ms.items()},
            "top_by_total_time": [s.as_dict() for s in self.top],
            "top_by_calls": [s.as_dict() for s in self.most_called],
        }


def reset_statements(postgres: Postgres) -> str | None:
    """Start a window: None when counting, else why pg_stat_statements cannot be read."""
    try:
        with psycopg.connect(postgres.libpq("postgres"), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            conn.execute("SELECT pg_stat_statements_reset()")
    except psycopg.Error as e:
        return f"pg_stat_statements is not available: {type(e).__name__}"
    return None


def read_statements(
    postgres: Postgres,
    databases: Iterable[str],
    *,
    top: int = 10,
    most_called: int = 60,
    width: int = 160,
) -> StatementStats:
    """Everything the window's statements cost in ``databases``, busiest first."""
    names = list(databases)
    with psycopg.connect(postgres.libpq("postgres"), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT d.datname, s.calls, s.total_exec_time, s.query"
            " FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid"
            " WHERE d.datname = ANY(%s) ORDER BY s.total_exec_time DESC",
            (names,),
        ).fetchall()
    calls = dict.fromkeys(names, 0)
    total = dict.fromkeys(names, 0.0)
    for db, n, ms, _ in rows:
        calls[db] += int(n)
        total[db] += float(ms)
    found = [
        Statement(db, int(n), float(ms), " ".join(str(q).split())[:width]) for db, n, ms, q in rows
    ]
    return StatementStats(
        calls=calls,
        total_ms=total,
        top=found[:top],
        most_called=sorted(found, key=lambda s: s.calls, reverse=True)[:most_called],
    )
