"""JSON logs that carry the service, the order worked on, the request id and the trace id."""

from __future__ import annotations

import logging
import sys

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter

from orderly_kit.card_data import looks_like_card_number, redact_card_numbers
from orderly_kit.context import current_message_id, current_order_id, current_request_id


class _ContextFilter(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        record.order_id = current_order_id.get()
        record.message_id = current_message_id.get()
        record.request_id = current_request_id.get()
        ctx = trace.get_current_span().get_span_context()
        record.trace_id = format(ctx.trace_id, "032x") if ctx.is_valid else None
        record.span_id = format(ctx.span_id, "016x") if ctx.is_valid else None
        return True


class CardNumberFilter(logging.Filter):
    """Removes card numbers from every record: its message, exception, stack and extras.

    Defence in depth: the guards refuse card numbers at the edges, so none should reach
    a log; if one does (a library's error quoting its input), it is not written.
    """

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record: the handler reports it as usual
            message = None
        if message is not None and looks_like_card_number(message):
            record.msg, record.args = redact_card_numbers(message), None
        if record.exc_info:
            text = record.exc_text or self._formatter.formatException(record.exc_info)
            if looks_like_card_number(text):
                # Formatters prefer exc_info when it is set; only the text is kept.
                record.exc_text, record.exc_info = redact_card_numbers(text), None
        for name, value in list(vars(record).items()):
            # The exception text and stack, and the extras and context fields, which
            # JSON lines carry as fields of their own.
            if name != "msg" and isinstance(value, str) and looks_like_card_number(value):
                setattr(record, name, redact_card_numbers(value))
        return True


def configure_logging(service: str, *, level: str = "INFO", json_format: bool = True) -> None:
    """Send every log record to stderr, as JSON lines unless told otherwise."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_ContextFilter(service))
    handler.addFilter(CardNumberFilter())  # after the context, whose fields it also scans
    if json_format:
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(service)s"
                " %(order_id)s %(message_id)s %(request_id)s %(trace_id)s %(span_id)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(service)s %(name)s: %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "uvicorn.access", "faststream.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
