"""HTTP API of the payment service, for support and finance: payment lookup by order,
refunds by hand, and the reconciliation report.

Who may call: finance reads payments, refunds by hand and reads the reconciliation
report; support reads payments (to answer a customer); admin may do everything. Who
asked for a refund is the token's subject, never a field of the body.

A malformed request is a 422 naming the field; an order without a payment a 404; a
refund the payment refuses (more than is left, nothing captured, another currency, an
idempotency key used for another refund) a 409 saying why.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Header, HTTPException, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints

from orderly_kit import reports
from orderly_kit.audit import Actor
from orderly_kit.auth import Caller, Permission, Role
from orderly_kit.http_errors import invalid, refusal
from orderly_kit.service import Service
from orderly_payment import queries, use_cases
from orderly_payment.use_cases.payments import Gateway, RefundRefusedError
from orderly_schemas.base import CurrencyCode, Money

READ = Permission.of("payments:read", Role.FINANCE, Role.SUPPORT)
REFUND = Permission.of("payments:refund", Role.FINANCE, description="refund money by hand")
RECONCILE = Permission.of("payments:reconciliation", Role.FINANCE)

#: The largest amount a BIGINT column holds.
MAX_AMOUNT = 2**63 - 1


class RefundCreate(BaseModel):
    """A refund finance asks for by hand: part or all of what is left of the capture and
    the charges."""

    model_config = ConfigDict(extra="forbid")

    amount: StrictInt = Field(gt=0, le=MAX_AMOUNT, description="in minor units of the currency")
    currency: CurrencyCode
    reason: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
        Field(description="why the money goes back; kept with the refund"),
    ]


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=use_cases.payments.MAX_KEY_LENGTH,
        pattern=r"^[!-~]+$",
        description="required: one key per refund (visible ASCII, e.g. a UUID); a retry with"
        " the same key returns the first refund and refunds nothing again",
    ),
]


def router(service: Service, *, gateway: Gateway) -> APIRouter:
    r = APIRouter(tags=["payments"])
    database = service.database
    messaging = service.messaging

    @r.get(
        "/payments/{order_id}",
        response_model=queries.payments.PaymentRead,
        responses={404: refusal("no payment of this order has been attempted")},
        dependencies=[Depends(READ)],
    )
    async def get_payment(order_id: UUID) -> queries.payments.PaymentRead:
        """The order's payment: method, amounts, status, refunds and every ledger entry."""
        async with database.sessions() as session:
            payment = await queries.payments.get_payment(session, order_id)
        if payment is None:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND, f"no payment for order {order_id} has been attempted"
            )
        return payment

    @r.post(
        "/payments/{order_id}/refunds",
        response_model=queries.payments.RefundRead,
        status_code=status.HTTP_201_CREATED,
        responses={
            200: {
                "model": queries.payments.RefundRead,
                "description": "a retry with the same Idempotency-Key: the first refund",
            },
            404: refusal("the order has no payment"),
            409: refusal("refused, with the reason; nothing was sent to the provider"),
        },
    )
    async def refund(
        order_id: UUID,
        body: RefundCreate,
        response: Response,
        caller: Annotated[Caller, Depends(REFUND)],
        idempotency_key: IdempotencyKey = None,
    ) -> queries.payments.RefundRead:
        """Refund part or all of what is left of the capture and charges (201; pending if
        the provider refused this attempt and a retry is scheduled, failed once retries ran
        out); the refund names the token's subject as who asked for it."""
        if idempotency_key is None:
            raise invalid(
                ("header", "Idempotency-Key"),
                "required: send a key of your own (e.g. a UUID) so that a retried request"
                " refunds once",
            )
        try:
            async with messaging.unit_of_work() as uow:
                done = await use_cases.payments.refund_by_hand(
                    uow,
                    order_id=order_id,
                    idempotency_key=idempotency_key,
                    amount=Money(amount=body.amount, currency=body.currency),
                    reason=body.reason,
                    requested_by=Actor.of(caller),
                    gateway=gateway,
                )
        except use_cases.payments.NoPaymentError as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
        except RefundRefusedError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
        if done.replayed:
            response.status_code = status.HTTP_200_OK
        return queries.payments.RefundRead.of(done.refund)

    @r.get(
        "/reports/reconciliation",
        response_model=queries.reconciliation.ReconciliationReport,
        responses=reports.CSV_RESPONSES,
        dependencies=[Depends(RECONCILE)],
    )
    async def reconciliation_report(
        request: Request, first: reports.From, last: reports.To, fmt: reports.Format = None
    ) -> Any:
        """Captured, charged, refunded and net money per UTC day, method and currency, from the
        ledger's succeeded operations; as JSON with totals per currency, or as CSV."""
        reports.checked_period(first, last)
        if reports.chosen_format(fmt, request) is reports.ReportFormat.JSON:
            return await queries.reconciliation.report(database.engine, first, last)
        return reports.csv_response(
            queries.reconciliation.render_csv(
                queries.reconciliation.stream_rows(database.engine, first, last)
            ),
            filename=f"reconciliation_{first.isoformat()}_{last.isoformat()}.csv",
        )

    return r
