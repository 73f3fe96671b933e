"""HTTP API of the payment service: payment lookup for support and finance."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, HTTPException, status

from orderly_kit.service import Service
from orderly_payment import views
from orderly_payment.handlers import Gateway


def router(service: Service, *, gateway: Gateway) -> APIRouter:
    r = APIRouter(tags=["payments"])
    database = service.database

    @r.get("/payments/{order_id}", response_model=views.PaymentRead)
    async def get_payment(order_id: UUID) -> views.PaymentRead:
        """The order's payment and its refunds."""
        async with database.sessions() as session:
            payment = await views.get_payment(session, order_id)
        if payment is None:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND, f"no payment for order {order_id} has been attempted"
            )
        return payment

    return r
