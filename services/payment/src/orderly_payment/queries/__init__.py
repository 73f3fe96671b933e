"""The payment service's reads: payments, and the reconciliation report for finance."""

from orderly_payment.queries import payments, reconciliation

__all__ = ["payments", "reconciliation"]
