"""``GET /audit``, on every service: its audit log for admins, oldest first, paged by id."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime, BaseModel, Field

from orderly_kit import audit
from orderly_kit.auth import Permission
from orderly_kit.http_errors import invalid

if TYPE_CHECKING:
    from orderly_kit.service import Service

#: Admins only (``Permission.of`` always lets admin through).
READ_AUDIT = Permission.of("audit:read", description="read the audit log")
MAX_LIMIT = 500


class AuditEntryRead(BaseModel):
    """One privileged action: who, what, on what, when, and what it changed."""

    id: int = Field(description="the row's place in the log; pass the last as ?after=")
    at: datetime
    actor: str = Field(description="the token's subject, or the operator's name at the CLI")
    roles: str = Field(description="the actor's roles, comma-separated ('operator' at the CLI)")
    action: str = Field(examples=["order.cancel"])
    target: str = Field(description="what it acted on, <type>:<id>", examples=["order:<uuid>"])
    request_id: str | None = Field(description="the HTTP request's X-Request-ID, if by HTTP")
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    prev_hash: str = Field(description="the hash of the row before (64 zeros for the first)")
    hash: str = Field(description="SHA-256 of prev_hash and this row's fields")

    @classmethod
    def of(cls, row: audit.AuditRow) -> AuditEntryRead:
        e = row.entry
        return cls(
            id=row.id,
            at=e.at,
            actor=e.actor,
            roles=e.roles,
            action=e.action,
            target=e.target,
            request_id=e.request_id,
            before=e.before,
            after=e.after,
            prev_hash=row.prev_hash,
            hash=row.hash,
        )


class AuditPage(BaseModel):
    """A page of the audit log in id order; ``next`` continues it, null on the last page."""

    items: list[AuditEntryRead]
    next: int | None = Field(description="pass as ?after= for the next page; null on the last")


Text = Annotated[str | None, Query(min_length=1, max_length=200)]
Since = Annotated[AwareDatetime | None, Query(description="from this time (included)")]
Until = Annotated[AwareDatetime | None, Query(description="until this time (excluded)")]


def router(service: Service) -> APIRouter:
    r = APIRouter(tags=["operations"])

    @r.get("/audit", response_model=AuditPage, dependencies=[Depends(READ_AUDIT)])
    async def list_audit(
        after: Annotated[
            int | None, Query(ge=0, description="the `next` of the previous page")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
        action: Text = None,
        actor: Text = None,
        target: Text = None,
        since: Since = None,
        until: Until = None,
    ) -> AuditPage:
        """Privileged actions on this service, oldest first, with the hashes that chain them."""
        if since is not None and until is not None and until <= since:
            raise invalid(("query", "until"), "must be after since", until.isoformat())
        where = audit.AuditFilter(
            action=action, actor=actor, target=target, since=since, until=until
        )
        # service.database, read when called: a test may swap it after building.
        async with service.database.sessions() as session:
            rows, last = await audit.page(
                session, service.messaging.audit_log, where, after=after, limit=limit
            )
        return AuditPage(items=[AuditEntryRead.of(row) for row in rows], next=last)

    return r
