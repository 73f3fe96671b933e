"""Value objects and the base class shared by every message."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Final, Self

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictInt
from pydantic_core import PydanticCustomError

from orderly_schemas.iso_codes import COUNTRIES, CURRENCIES
from orderly_schemas.text import unsafe_text_error, unsafe_text_escaped

#: The largest amount of money, in minor units: 10^15 (ten trillion euros in cents). The
#: services keep amounts in BIGINT columns (up to about 9.2 * 10^18), so a sum of many such
#: amounts (an order's lines, a day's revenue) still fits; 10^30 cents would not even fit one.
MAX_AMOUNT: Final = 10**15
#: The largest number of units of stock a quantity counts: 10^9. The services keep stock in
#: INTEGER columns (up to 2^31 - 1, about 2.1 * 10^9), so one quantity added to another
#: still fits. An order line, a return line and a transfer line are bounded far lower.
MAX_UNITS: Final = 10**9

_CURRENCIES: Final = frozenset(CURRENCIES)
_COUNTRIES: Final = frozenset(COUNTRIES)


def _iso_4217(code: str) -> str:
    if code not in _CURRENCIES:
        raise PydanticCustomError("currency_code", "must be an ISO 4217 currency code, e.g. EUR")
    return code


def _iso_3166(code: str) -> str:
    if code not in _COUNTRIES:
        raise PydanticCustomError(
            "country_code", "must be an ISO 3166-1 alpha-2 country code, e.g. DE"
        )
    return code


# The code lists are the contract's own (orderly_schemas.iso_codes, generated from
# pycountry): every consumer of one contract version accepts the same codes.
CurrencyCode = Annotated[
    str,
    Field(
        pattern=r"^[A-Z]{3}$",
        description="ISO 4217 currency code, e.g. EUR",
        json_schema_extra={"enum": list(CURRENCIES)},
    ),
    AfterValidator(_iso_4217),
]
CountryCode = Annotated[
    str,
    Field(
        pattern=r"^[A-Z]{2}$",
        description="ISO 3166-1 alpha-2 country code, e.g. DE",
        json_schema_extra={"enum": list(COUNTRIES)},
    ),
    AfterValidator(_iso_3166),
]
Sku = Annotated[
    str,
    Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$"),
]


#: A number, or a number written as a string: pydantic would read either as a time.
_NUMBER: Final = re.compile(r"\s*[+-]?[0-9]+(\.[0-9]*)?\s*")


def _not_a_number(value: object) -> object:
    # Left to itself pydantic reads 1700000000 (or "1700000000") as seconds, or
    # milliseconds, since 1970: a producer that sends a number has its units or its
    # format wrong, and the contract's schema says an ISO 8601 string.
    if isinstance(value, int | float | Decimal) or (
        isinstance(value, str) and _NUMBER.fullmatch(value)
    ):
        raise PydanticCustomError(
            "datetime_type",
            "must be an ISO 8601 date and time with a timezone (e.g. 2026-01-31T12:00:00Z),"
            " not a number",
        )
    return value


def _must_be_aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("must be timezone-aware (e.g. 2026-01-31T12:00:00Z)")
    return value


#: Every time in the contract: an ISO 8601 string with a timezone, never a number.
AwareDatetime = Annotated[datetime, BeforeValidator(_not_a_number), AfterValidator(_must_be_aware)]


class Message(BaseModel):
    """Base of every event and command: immutable, tolerant of fields it does not know."""

    # Readers ignore unknown fields so that producers can add optional fields
    # without breaking consumers (the compatibility rule the contract tests enforce).
    model_config = ConfigDict(frozen=True, extra="ignore")

    #: The topic a message of this type is published on; set on every concrete class.
    topic: ClassVar[str]

    @classmethod
    def message_type(cls) -> str:
        """The CloudEvents ``type`` of this message."""
        return cls.__name__

    @classmethod
    def model_validate_json(cls, json_data: str | bytes | bytearray, **kwargs: Any) -> Self:
        """The message in ``json_data``; refused, naming each field, if any string in it (at
        any depth, also in fields this reader ignores) holds a NUL (``orderly_schemas.text``).

        JSON can only spell a NUL as the escape ``\\u0000``, so one look for that escape
        keeps every other message on pydantic's own path; a lone surrogate escape is
        invalid JSON to pydantic already.
        """
        if unsafe_text_escaped(json_data):
            refused = unsafe_text_error(cls.__name__, json_data)
            if refused is not None:
                raise refused
        return super().model_validate_json(json_data, **kwargs)


class Money(BaseModel):
    """An amount in minor units (cents) of a currency; never a float."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    amount: StrictInt = Field(
        ge=0, le=MAX_AMOUNT, description="amount in minor units of the currency, at most 10^15"
    )
    currency: CurrencyCode

    def __add__(self, other: Money) -> Money:
        if other.currency != self.currency:
            raise ValueError(f"cannot add {other.currency} to {self.currency}")
        return Money(amount=self.amount + other.amount, currency=self.currency)

    def times(self, quantity: int) -> Money:
        return Money(amount=self.amount * quantity, currency=self.currency)


class OrderLine(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    sku: Sku
    quantity: StrictInt = Field(gt=0, le=10_000)
    unit_price: Money


class StockLine(BaseModel):
    """A quantity of one SKU, as used by stock commands."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    sku: Sku
    quantity: StrictInt = Field(gt=0, le=10_000)


class Allocation(BaseModel):
    """Units of one SKU taken from one warehouse."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    sku: Sku
    warehouse: str = Field(min_length=1, max_length=64)
    quantity: StrictInt = Field(gt=0, le=MAX_UNITS)
