"""The payment service's use cases, one module per capability: payments and their refunds."""

from orderly_payment.use_cases import payments

__all__ = ["payments"]
