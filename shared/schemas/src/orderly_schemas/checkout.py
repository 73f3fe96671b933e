"""What upstream checkout publishes on ``checkout.orders.v1``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Final, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from orderly_schemas import topics
from orderly_schemas.base import AwareDatetime, CountryCode, Money, OrderLine
from orderly_schemas.closed import ClosedMessage

#: No order was placed before this: an earlier time is a mistake (a zero, a unit off by a
#: thousand), not an old order.
EARLIEST_PLACED_AT: Final = datetime(2000, 1, 1, tzinfo=UTC)
#: How far ahead of the reader's clock an order may say it was placed: the producer's clock
#: may run a little ahead of ours, never by more (a local time labelled UTC, a time in the
#: wrong unit). There is no bound into the past but the one above, so that a message
#: replayed from a dead-letter topic weeks later still reads.
PLACED_AT_AHEAD: Final = timedelta(hours=1)


def _placed_in_time(value: datetime) -> datetime:
    if value < EARLIEST_PLACED_AT:
        raise PydanticCustomError("placed_too_early", "must not be before 2000-01-01T00:00:00Z")
    if value > datetime.now(UTC) + PLACED_AT_AHEAD:
        raise PydanticCustomError(
            "placed_in_the_future", "must not be more than one hour after the time it is read"
        )
    return value


PlacedAt = Annotated[
    AwareDatetime,
    AfterValidator(_placed_in_time),
    Field(
        description=(
            "when the customer placed the order: an ISO 8601 date and time with a timezone"
            " (a number is refused), not before 2000-01-01T00:00:00Z and not more than one"
            " hour after the clock of the service reading it"
        )
    ),
]

PaymentMethod = Literal["credit_card", "debit_card", "mobile_wallet", "third_party"]


class Customer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    customer_id: str = Field(min_length=1, max_length=64)
    email: EmailStr
    name: str = Field(min_length=1, max_length=200)


class Address(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str = Field(min_length=1, max_length=200)
    line1: str = Field(min_length=1, max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    city: str = Field(min_length=1, max_length=100)
    postal_code: str = Field(min_length=1, max_length=20)
    country: CountryCode
    region: str | None = Field(default=None, max_length=100)


class PaymentDetails(BaseModel):
    """A provider token plus what may be shown of the method; never a card number.

    The display fields are what the provider's tokenisation returned (brand, last four
    digits, expiry) and are only ever shown to people; the token is what is charged.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    method: PaymentMethod
    token: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_:.-]+$")
    brand: str | None = Field(
        default=None,
        max_length=40,
        pattern=r"^[A-Za-z][A-Za-z0-9 _.-]*$",
        description="card scheme or wallet brand as the provider names it, e.g. visa, apple_pay",
    )
    last4: str | None = Field(
        default=None, pattern=r"^[0-9]{4}$", description="the last four digits, for display"
    )
    exp_month: int | None = Field(default=None, ge=1, le=12)
    exp_year: int | None = Field(default=None, ge=2000, le=2199)


class OrderPlaced(ClosedMessage):
    """A customer placed an order at checkout; the saga starts here.

    Closed at every depth: a field the contract does not define refuses the order.
    """

    topic = topics.CHECKOUT_ORDERS

    order_id: UUID
    customer: Customer
    lines: list[OrderLine] = Field(min_length=1, max_length=200)
    total: Money
    shipping_address: Address
    payment: PaymentDetails
    placed_at: PlacedAt

    @field_validator("total")
    @classmethod
    def _total_is_not_zero(cls, total: Money) -> Money:
        # A line may be free (a gift beside paid lines); a whole order of nothing has no
        # payment to capture, and its saga would wait for one until cancelled.
        if total.amount == 0:
            raise PydanticCustomError(
                "zero_total", "an order must cost something: a total of 0 cannot be paid"
            )
        return total

    @model_validator(mode="after")
    def _total_is_sum_of_lines(self) -> OrderPlaced:
        for n, line in enumerate(self.lines):
            if line.unit_price.currency != self.total.currency:
                raise ValueError(
                    f"lines.{n}.unit_price.currency: {line.unit_price.currency} differs from"
                    f" the order currency {self.total.currency}"
                )
        expected = sum(line.unit_price.amount * line.quantity for line in self.lines)
        if expected != self.total.amount:
            raise ValueError(
                f"total.amount {self.total.amount} is not the sum of the lines ({expected})"
            )
        seen: set[str] = set()
        for n, line in enumerate(self.lines):
            if line.sku in seen:
                raise ValueError(f"lines.{n}.sku: {line.sku} is already on another line")
            seen.add(line.sku)
        return self
