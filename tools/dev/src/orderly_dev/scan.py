"""Search everything the running suite keeps for a value that must not be there: every row
of every table of the six service databases, every record (key, value, headers) of every
topic on the broker, and every service log (the card-number and personal-data tests)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from aiokafka import AIOKafkaConsumer
from psycopg import sql

from orderly_dev.stack import SERVICES, Stack, database_name
from orderly_dev.watch import read_records
from orderly_schemas import topics


@dataclass(frozen=True)
class Document:
    """One scanned thing (a row, a record, a log line) and where it is."""

    where: str
    text: str


def as_is(text: str) -> str:
    return text


def hits(
    documents: list[Document], needle: str, *, normalise: Callable[[str], str] = as_is
) -> list[str]:
    """Where ``needle`` occurs in the ``normalise``\\ d text of each document, with some
    context (``needle`` is given normalised)."""
    found = []
    for doc in documents:
        text = normalise(doc.text)
        at = text.find(needle)
        if at >= 0:
            found.append(f"{doc.where}: ...{text[max(0, at - 80) : at + 80]}...")
    return found


def as_text(value: Any) -> str:
    if isinstance(value, bytes | memoryview):
        return bytes(value).decode(errors="replace")
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def database_rows(stack: Stack) -> list[Document]:
    """Every row of every table of every service database, each value as text."""
    documents = []
    for service in SERVICES:
        db = database_name(service)
        with psycopg.connect(stack.servers.postgres.libpq(db)) as conn:
            tables = conn.execute(
                "SELECT table_schema, table_name FROM information_schema.tables"
                " WHERE table_type = 'BASE TABLE'"
                " AND table_schema NOT IN ('pg_catalog', 'information_schema')"
            ).fetchall()
            assert tables, f"no tables in {db}"
            for schema, table in tables:
                query = sql.SQL("SELECT * FROM {}.{}").format(
                    sql.Identifier(schema), sql.Identifier(table)
                )
                for n, row in enumerate(conn.execute(query)):
                    text = " | ".join(as_text(v) for v in row)
                    documents.append(Document(f"db {db} table {schema}.{table} row {n}", text))
    return documents


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, str]

    def document(self) -> Document:
        text = " | ".join(
            [as_text(self.key or b""), as_text(self.value or b""), json.dumps(self.headers)]
        )
        return Document(f"kafka {self.topic}[{self.partition}]@{self.offset}", text)


async def every_record(bootstrap: str) -> list[Record]:
    """Every record of every topic on the broker, from the first offset."""
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await probe.start()
    try:
        names = sorted(await probe.topics())
    finally:
        await probe.stop()
    assert set(topics.ALL_TOPICS) <= set(names), names
    return [
        Record(
            r.topic,
            r.partition,
            r.offset,
            r.key,
            r.value,
            {k: v.decode(errors="replace") for k, v in (r.headers or ())},
        )
        for r in await read_records(bootstrap, names, idle_ms=2000)
    ]


def log_lines(stack: Stack) -> list[Document]:
    """Every line of every service's log."""
    documents = []
    for name, proc in stack.processes.items():
        lines = proc.log_path.read_text(errors="replace").splitlines()
        assert lines, f"the {name} log is empty: {proc.log_path}"
        documents += [
            Document(f"log {proc.log_path}:{n + 1}", line) for n, line in enumerate(lines)
        ]
    return documents
