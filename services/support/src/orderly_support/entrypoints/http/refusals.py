"""The domain's refusals as answers, for every route of the service: a field that breaks a
rule is the kit's 422 naming it in the body, a request the state forbids a 409 saying why.
``bootstrap`` registers ``refused`` on the app."""

from __future__ import annotations

from fastapi import Request, Response, status
from fastapi.responses import JSONResponse

from orderly_kit.http_errors import invalid, refuse_invalid
from orderly_support.domain.refusals import InvalidRequestError, Refusal


async def refused(request: Request, exc: Exception) -> Response:
    """Answer a ``Refusal``: 422 naming the body field, else 409."""
    if isinstance(exc, InvalidRequestError):
        return await refuse_invalid(request, invalid(("body", *exc.loc), exc.message, exc.value))
    if isinstance(exc, Refusal):
        return JSONResponse({"detail": exc.message}, status_code=status.HTTP_409_CONFLICT)
    raise exc
