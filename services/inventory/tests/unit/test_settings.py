"""The allocation settings: a known policy, regions from JSON that do not overlap."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from orderly_inventory.domain.allocation import Policy
from orderly_inventory.settings import InventorySettings

REGIONS_JSON = (
    '{"east": {"countries": ["DE", "PL"]},'
    ' "west": {"countries": ["FR"], "postal_prefixes": {"DE": ["66", "67"]}}}'
)


def test_the_policy_is_priority_unless_set() -> None:
    settings = InventorySettings()

    assert settings.allocation_policy is Policy.PRIORITY
    assert not settings.region_map()


def test_policy_and_regions_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVENTORY_ALLOCATION_POLICY", "nearest")
    monkeypatch.setenv("INVENTORY_REGIONS", REGIONS_JSON)

    settings = InventorySettings()

    assert settings.allocation_policy is Policy.NEAREST
    regions = settings.region_map()
    assert regions.region_of(country="DE", postal_code="10115") == "east"
    assert regions.region_of(country="DE", postal_code="66111") == "west"


def test_an_unknown_policy_is_refused_naming_the_setting_and_the_choices() -> None:
    with pytest.raises(ValidationError) as error:
        InventorySettings(allocation_policy="closest")

    [problem] = error.value.errors()
    assert problem["loc"] == ("allocation_policy",)
    assert "'priority', 'most_stock' or 'nearest'" in problem["msg"]


def test_nearest_without_regions_is_refused_with_what_to_do() -> None:
    with pytest.raises(ValidationError, match="allocation_policy='nearest' needs regions"):
        InventorySettings(allocation_policy="nearest")


def test_regions_that_claim_one_country_twice_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "INVENTORY_REGIONS", '{"east": {"countries": ["DE"]}, "west": {"countries": ["DE"]}}'
    )

    with pytest.raises(ValidationError) as error:
        InventorySettings()

    [problem] = error.value.errors()
    assert problem["loc"] == ("regions",)
    assert "country 'DE' is served whole by both 'east' and 'west'" in problem["msg"]


@pytest.mark.parametrize(
    ("regions", "where"),
    [
        ({"east": {"countries": ["Germany"]}}, ("regions", "east", "countries", 0)),
        (
            {"east": {"postal_prefixes": {"DE": [""]}}},
            ("regions", "east", "postal_prefixes", "DE", 0),
        ),
        ({"east": {"counties": ["DE"]}}, ("regions", "east", "counties")),
    ],
)
def test_a_malformed_region_is_refused_naming_the_field(
    regions: dict[str, object], where: tuple[object, ...]
) -> None:
    with pytest.raises(ValidationError) as error:
        InventorySettings(regions=regions)

    assert [problem["loc"] for problem in error.value.errors()] == [where]
