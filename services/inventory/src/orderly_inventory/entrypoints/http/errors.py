"""How the HTTP API refuses a request, written once for every route.

Routes let the domain's refusals (``domain.errors``) through; ``refused``, registered
on the app by ``bootstrap``, answers an InvalidInputError with a 422 in FastAPI's own
validation shape naming the body field, a NotFoundError with a 404 and a
ConflictError with a 409, both ``{"detail": message}``. A route that finds a request
invalid itself (a query parameter, a header) raises ``invalid(...)``: the same 422.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from fastapi import HTTPException, Request, Response, status
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from orderly_inventory.domain.errors import ConflictError, InvalidInputError, NotFoundError

T = TypeVar("T")


def found_or_404(found: T | None, missing: str) -> T:
    """What a read found, or a 404 whose detail is ``missing`` ("no transfer ...")."""
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, missing)
    return found


def invalid(loc: Sequence[str | int], message: str, value: object = None) -> RequestValidationError:
    """A 422 in FastAPI's validation shape naming ``loc`` (e.g. ``("query", "cursor")``)."""
    return RequestValidationError(
        [{"type": "value_error", "loc": tuple(loc), "msg": message, "input": value}]
    )


def invalid_body(error: ValidationError) -> RequestValidationError:
    """A 422 of pydantic's errors in a body read by hand, located in the body as FastAPI does."""
    return RequestValidationError(
        [{**e, "loc": ("body", *e["loc"])} for e in error.errors(include_url=False)]
    )


async def refused(request: Request, exc: Exception) -> Response:
    """The domain's refusal as an answer: 422 naming the body field, 404, or 409."""
    if isinstance(exc, InvalidInputError):
        return await request_validation_exception_handler(
            request, invalid(("body", *exc.loc), exc.message, exc.value)
        )
    if isinstance(exc, NotFoundError):
        return JSONResponse({"detail": exc.message}, status_code=status.HTTP_404_NOT_FOUND)
    if isinstance(exc, ConflictError):
        return JSONResponse({"detail": exc.message}, status_code=status.HTTP_409_CONFLICT)
    raise exc
