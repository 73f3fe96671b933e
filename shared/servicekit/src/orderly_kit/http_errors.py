"""How every service answers a request it finds invalid: one 422, in FastAPI's shape.

``{"detail": [{"type", "loc", "msg", "input"?, "ctx"?}]}`` is the shape of FastAPI's own
validation errors, of a route's own checks (``invalid``, ``invalid_body``) and of the
kit's guards (``unprocessable``). ``build_service`` installs ``refuse_invalid`` as every
service's handler of RequestValidationError, and a service's own exception handler that
answers 422 hands over to it, so no route answers 422 in another shape.

What the request sent is echoed as an excerpt at most. FastAPI's errors carry the whole
offending value in ``input`` (for a missing field, the whole object around it): a 12.7 MB
order came back as an 11.4 MB answer. So every ``input`` is cut to ``EXCERPT_CHARS``
characters (an object or a list: of its JSON text), a cut one marked with
``"input_cut": true``, and anything in it that looks like a card number is removed. The
rule is the same for every field, personal data included: the excerpt goes back only
to the client that sent it, in the answer to that very request, and is never logged.
Names taken from the request (an unknown field's name in ``loc``) and the strings of
``ctx`` are cut alike, and at most ``MAX_ERRORS`` errors are listed, the last entry
counting the rest, so that an answer stays small whatever was sent.

Every other refusal is ``{"detail": "..."}`` (``ErrorDetail``): one sentence saying what
was refused and what to do. A route documents each refusal it may answer in its
``responses=`` with ``refusal(...)``; ``document_guards`` documents on every operation
what the kit's guards may answer to any request (a 422 of this shape, and 413 and 408
where a body is sent), so that each service's OpenAPI names every answer it can give.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final, cast

from fastapi import Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import (
    validation_error_definition,
    validation_error_response_definition,
)
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from orderly_kit.card_data import redact_card_numbers, without_card_numbers

#: The most characters of a value sent that a 422 echoes (``input``, a name in ``loc``).
EXCERPT_CHARS: Final = 100
#: The longest message a 422 carries (messages are ours, but some quote what was sent).
MESSAGE_CHARS: Final = 500
#: The most errors a 422 lists.
MAX_ERRORS: Final = 50
_CUT: Final = "…"


class ErrorDetail(BaseModel):
    """A refusal in one sentence: what was refused, and what to do."""

    detail: str


def refusal(description: str) -> dict[str, Any]:
    """A refusal for a route's ``responses=``: when it is answered, as ``{"detail": "..."}``."""
    return {"model": ErrorDetail, "description": description}


def invalid(loc: Sequence[str | int], message: str, value: object = None) -> RequestValidationError:
    """A 422 naming ``loc`` (e.g. ``("query", "cursor")``) and saying ``message``; ``value``,
    if given, is what the request sent there (echoed as an excerpt)."""
    error: dict[str, Any] = {"type": "value_error", "loc": tuple(loc), "msg": message}
    if value is not None:
        error["input"] = value
    return RequestValidationError([error])


def invalid_body(error: ValidationError) -> RequestValidationError:
    """A 422 of pydantic's errors in a body read by hand, located in the body as FastAPI does."""
    return RequestValidationError(
        [{**e, "loc": ("body", *e["loc"])} for e in error.errors(include_url=False)]
    )


def unprocessable(
    errors: Sequence[Mapping[str, Any]],
    *,
    unlisted: int | None = 0,
    max_errors: int = MAX_ERRORS,
) -> JSONResponse:
    """The 422 of ``errors`` (FastAPI's error dicts), each echo of the request cut short.
    ``unlisted`` more were found but not kept (a guard keeps no more than a 422 lists);
    None if it is not known how many more (a guard stopped looking). A route whose errors
    are bounded otherwise (an import's rows) may list more than ``MAX_ERRORS``."""
    shown = [_bounded(e) for e in errors[:max_errors]]
    more = max(len(errors) - max_errors, 0) + (unlisted or 0)
    if unlisted is None:
        shown.append(_too_many("more errors not listed"))
    elif more:
        shown.append(_too_many(f"{more} more error(s) not listed"))
    return JSONResponse({"detail": shown}, status_code=422)


def _too_many(what: str) -> dict[str, Any]:
    return {"type": "too_many_errors", "loc": [], "msg": f"{what}: correct these and send again"}


async def refuse_invalid(request: Request, exc: Exception) -> Response:
    """Every service's handler of RequestValidationError: ``unprocessable``."""
    del request
    assert isinstance(exc, RequestValidationError)
    return unprocessable(exc.errors())


def excerpt(value: Any) -> tuple[Any, bool]:
    """``value`` as a 422 may echo it, and whether it was cut: a string, a number, an
    object or a list whose JSON text has at most ``EXCERPT_CHARS`` characters as it is
    (card numbers removed); a longer one as the first ``EXCERPT_CHARS`` characters of
    its text followed by an ellipsis."""
    encoded = jsonable_encoder(value)
    if isinstance(encoded, str):
        text, cut = _cut(encoded, EXCERPT_CHARS)
        return redact_card_numbers(text), cut
    text = json.dumps(encoded, ensure_ascii=False, separators=(",", ":"))
    if len(text) <= EXCERPT_CHARS:
        return without_card_numbers(encoded), False
    return redact_card_numbers(_cut(text, EXCERPT_CHARS)[0]), True


_SCHEMAS: Final = "#/components/schemas/"
#: FastAPI's shape of one validation error, and the mark of an ``input`` cut short.
_VALIDATION_ERROR: Final[dict[str, Any]] = {
    **validation_error_definition,
    "properties": {
        **cast(dict[str, Any], validation_error_definition["properties"]),
        "input_cut": {
            "title": "Input Cut",
            "type": "boolean",
            "description": f"``input`` is only the first {EXCERPT_CHARS} characters sent",
        },
    },
}
#: What the kit's guards may answer to any request: a 422 of its one shape, and for a body
#: over its limit or too slow (``http_limits``) a 413 or a 408.
_UNPROCESSABLE: Final = {
    "description": "the request breaks a rule: each error names where (loc) and why (msg)",
    "content": {"application/json": {"schema": {"$ref": f"{_SCHEMAS}HTTPValidationError"}}},
}
_BODY_REFUSALS: Final = {
    "413": "the body is larger than this endpoint takes",
    "408": "the body did not arrive in time: send it again",
}


def document_guards(schema: dict[str, Any]) -> dict[str, Any]:
    """Write into the OpenAPI ``schema`` what the kit's guards may answer any operation:
    422 (a NUL, a lone surrogate or a card number anywhere in the request, or whatever
    the route finds invalid) in the shape ``unprocessable`` gives it, and 413 and 408
    where the operation takes a body."""
    operations = [
        operation
        for item in schema.get("paths", {}).values()
        for method, operation in item.items()
        if method in _METHODS
    ]
    if not operations:
        return schema
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["ValidationError"] = _VALIDATION_ERROR
    components.setdefault("HTTPValidationError", validation_error_response_definition)
    components["ErrorDetail"] = ErrorDetail.model_json_schema()
    for operation in operations:
        responses = operation.setdefault("responses", {})
        responses["422"] = {**_UNPROCESSABLE, **_described(responses.get("422"))}
        if "requestBody" in operation:
            for code, description in _BODY_REFUSALS.items():
                responses.setdefault(
                    code,
                    {
                        "description": description,
                        "content": {
                            "application/json": {"schema": {"$ref": f"{_SCHEMAS}ErrorDetail"}}
                        },
                    },
                )
    return schema


_METHODS: Final = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


def _described(response: Mapping[str, Any] | None) -> dict[str, Any]:
    """A route's own description of its 422, kept over the generic one."""
    if response is None or response.get("description") in (None, "Validation Error"):
        return {}
    return {"description": response["description"]}


def _bounded(error: Mapping[str, Any]) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "type": str(error.get("type", "value_error")),
        "loc": [
            part if isinstance(part, int) else _short(redact_card_numbers(str(part)))
            for part in error.get("loc", ())
        ],
        "msg": _cut(str(error.get("msg", "")), MESSAGE_CHARS)[0],
    }
    if "input" in error:
        shown["input"], cut = excerpt(error["input"])
        if cut:
            shown["input_cut"] = True
    if error.get("ctx"):
        shown["ctx"] = _short_strings(jsonable_encoder(error["ctx"]))
    return shown


def _cut(text: str, limit: int) -> tuple[str, bool]:
    return (text, False) if len(text) <= limit else (text[:limit] + _CUT, True)


def _short(text: str) -> str:
    return _cut(text, EXCERPT_CHARS)[0]


def _short_strings(data: Any) -> Any:
    """JSON-like ``data`` with every string (key or value) cut to an excerpt."""
    if isinstance(data, dict):
        return {_short(str(k)): _short_strings(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_short_strings(v) for v in data]
    return redact_card_numbers(_short(data)) if isinstance(data, str) else data
