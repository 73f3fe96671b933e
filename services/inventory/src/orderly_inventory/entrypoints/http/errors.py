"""How the HTTP API refuses a request, written once for every route.

Routes let the domain's refusals (``domain.errors``) through; ``refused``, registered
on the app by ``bootstrap``, answers an InvalidInputError with the kit's 422 (every
service's one shape, ``orderly_kit.http_errors``) naming the body field, a NotFoundError
with a 404 and a ConflictError with a 409, both ``{"detail": message}``. A route that
finds a request invalid itself (a query parameter, a header) raises the kit's
``invalid(...)``: the same 422.
"""

from __future__ import annotations

from typing import TypeVar

from fastapi import HTTPException, Request, Response, status
from fastapi.responses import JSONResponse

from orderly_inventory.domain.errors import ConflictError, InvalidInputError, NotFoundError
from orderly_kit.http_errors import invalid, refuse_invalid

T = TypeVar("T")


def found_or_404(found: T | None, missing: str) -> T:
    """What a read found, or a 404 whose detail is ``missing`` ("no transfer ...")."""
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, missing)
    return found


async def refused(request: Request, exc: Exception) -> Response:
    """The domain's refusal as an answer: 422 naming the body field, 404, or 409."""
    if isinstance(exc, InvalidInputError):
        return await refuse_invalid(request, invalid(("body", *exc.loc), exc.message, exc.value))
    if isinstance(exc, NotFoundError):
        return JSONResponse({"detail": exc.message}, status_code=status.HTTP_404_NOT_FOUND)
    if isinstance(exc, ConflictError):
        return JSONResponse({"detail": exc.message}, status_code=status.HTTP_409_CONFLICT)
    raise exc
