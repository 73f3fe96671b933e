"""A customer's personal data as it travels between services: sealed, never in plaintext.

The order service seals each field (AES-GCM) under the customer's own data key, with the
customer's id and the field's name as associated data, and sends the data key along
wrapped (AES key wrap) by a key-encryption key that only the services allowed to read
personal data hold (``key_id`` names it). A reader keeps the wrapped key in its own
``customer_keys`` table beside the sealed fields it stores, and opens them when it needs
them. Erasing a customer destroys that key in every service (``CustomerErased``): every
copy held in a database becomes unreadable at once; records on Kafka stay sealed and can be
opened with the key-encryption key only until their topic's retention removes them.
"""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import BaseModel, ConfigDict, Field

from orderly_schemas import topics
from orderly_schemas.base import AwareDatetime, Message

#: Standard base64 of at most 8 KiB of binary (an address sealed is well under 1 KiB).
Base64Text = Annotated[
    str, Field(min_length=1, max_length=11_000, pattern=r"^[A-Za-z0-9+/]+={0,2}$")
]
FieldName = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z][a-z_]*$")]

#: The names of the fields the contract seals.
CUSTOMER_NAME: Final = "customer_name"
CUSTOMER_EMAIL: Final = "customer_email"
SHIPPING_ADDRESS: Final = "shipping_address"


class SealedPersonalData(BaseModel):
    """Fields of one customer's personal data, sealed under their data key."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    customer_id: str = Field(min_length=1, max_length=64)
    key_id: str = Field(
        min_length=1,
        max_length=64,
        description="the key-encryption key that wraps data_key (the readers' settings hold it)",
    )
    data_key: Base64Text = Field(description="the customer's data key, AES-key-wrapped")
    fields: dict[FieldName, Base64Text] = Field(
        min_length=1,
        max_length=8,
        description=(
            "sealed values by field name (customer_name, customer_email, shipping_address: the"
            " address as JSON); each AES-GCM with the customer id and field name as associated"
            " data"
        ),
    )


class CustomerErased(Message):
    """A customer's personal data was erased: every service destroys its copy of their data
    key, so whatever it holds of them can no longer be opened. Subscribers that keep
    personal data from order events must do the same."""

    topic = topics.CUSTOMER_EVENTS

    customer_id: str = Field(min_length=1, max_length=64)
    occurred_at: AwareDatetime
