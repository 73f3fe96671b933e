"""The fault suite's stack: the session's stack, with the saga's waits shortened.

Short reply timeouts make the deadline paths (re-send, then compensate) happen
within seconds; the payment service gives up on a message after two attempts
and retries refunds quickly; the warehouse takes three seconds to pick an order.
The settings are put back when the suite ends.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from orderly_dev.stack import Stack

FAULT_SETTINGS: dict[str, dict[str, str]] = {
    "order": {
        # Short: a command merely queued, or read and still being handled, is held
        # rather than re-sent (the deadline asks the broker), so only silence re-sends.
        "ORDER_REPLY_TIMEOUT_SECONDS": "5",
        "ORDER_MAX_RESENDS": "2",
        "ORDER_COMPENSATION_TIMEOUT_SECONDS": "20",
        "ORDER_DEADLINE_POLL_SECONDS": "0.5",
    },
    # Picking takes a moment, as in a real warehouse: a cancel after payment can win.
    "inventory": {"INVENTORY_PICK_DELAY_SECONDS": "3", "INVENTORY_PICK_POLL_SECONDS": "0.3"},
    "payment": {
        "PAYMENT_CONSUMER_MAX_ATTEMPTS": "2",
        "PAYMENT_REFUND_RETRY_BACKOFF_SECONDS": "0.2",
        "PAYMENT_REFUND_RETRY_BACKOFF_MAX_SECONDS": "1",
        "PAYMENT_REFUND_RETRY_POLL_SECONDS": "0.2",
        "PAYMENT_REFUND_MAX_ATTEMPTS": "3",
        # A tok_hold… capture (tok_refundhold… refund) keeps its answer back this long:
        # long enough to kill the service while the provider has executed it.
        "PAYMENT_SIM_HOLD_SECONDS": "120",
    },
}


@pytest.fixture(scope="package")
def faults(stack: Stack) -> Iterator[Stack]:
    """The stack, its order and payment services restarted with the fault settings."""
    saved = {name: dict(stack.settings.get(name, {})) for name in FAULT_SETTINGS}
    for name, values in FAULT_SETTINGS.items():
        stack.settings[name] = saved[name] | values
        stack.restart(name)
    try:
        yield stack
    finally:
        for name in FAULT_SETTINGS:
            stack.settings[name] = saved[name]
            proc = stack.processes[name]
            if proc.alive() or proc.proc is not None:
                stack.restart(name)
