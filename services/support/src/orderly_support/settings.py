"""Settings of the support service, read from SUPPORT_* environment variables."""

from __future__ import annotations

from datetime import timedelta
from types import MappingProxyType

from pydantic import Field, PositiveFloat
from pydantic_settings import SettingsConfigDict

from orderly_kit.settings import ServiceSettings
from orderly_schemas.support import CaseCategory
from orderly_support.domain.cases import SlaPolicy
from orderly_support.domain.feedback import FeedbackPolicy


class SupportSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SUPPORT_", extra="ignore")

    #: Cases' and feedback's words are kept sealed under customers' data keys.
    holds_personal_data = True
    service_name: str = "support"
    database_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/orderly_support"
    http_port: int = 8006
    feedback_edit_days: float = Field(
        default=14,
        ge=0,
        le=3650,
        description="how many days after it was first given a customer may change their"
        " feedback on an order",
    )
    first_response_hours: PositiveFloat = Field(
        default=24,
        description="hours from a case's opening to its first response (support's first"
        " message to the customer), unless its category has its own; plain hours, not"
        " business hours",
    )
    first_response_hours_by_category: dict[CaseCategory, PositiveFloat] = Field(
        default={"payment": 4.0, "damaged": 4.0},
        description='the first response\'s hours of some categories, as JSON ({"payment": 4})',
    )
    resolution_hours: PositiveFloat = Field(
        default=72,
        description="hours from a case's opening to its resolution, unless its category has"
        " its own; the clock pauses while the case waits on the customer or is resolved",
    )
    resolution_hours_by_category: dict[CaseCategory, PositiveFloat] = Field(
        default_factory=dict,
        description='the resolution\'s hours of some categories, as JSON ({"delivery": 120})',
    )
    sla_poll_seconds: float = Field(
        default=30, gt=0, description="how often cases past an agreement are looked for"
    )
    case_metrics_poll_seconds: float = Field(
        default=15, gt=0, description="how often the cases-per-status gauge is refreshed"
    )

    def sla_policy(self) -> SlaPolicy:
        return SlaPolicy(
            first_response=timedelta(hours=self.first_response_hours),
            resolution=timedelta(hours=self.resolution_hours),
            first_response_by_category=_durations(self.first_response_hours_by_category),
            resolution_by_category=_durations(self.resolution_hours_by_category),
        )

    def feedback_policy(self) -> FeedbackPolicy:
        return FeedbackPolicy(edit_window=timedelta(days=self.feedback_edit_days))


def _durations(hours: dict[CaseCategory, float]) -> MappingProxyType[str, timedelta]:
    return MappingProxyType({category: timedelta(hours=n) for category, n in hours.items()})
