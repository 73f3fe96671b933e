"""Regions: which region serves a shipping address (whole countries, postal prefixes)."""

from __future__ import annotations

import pytest

from orderly_inventory.domain.regions import NO_REGIONS, Region, Regions

REGIONS = Regions(
    [
        Region("east", countries=frozenset({"DE", "PL"}), postal_prefixes={"GB": frozenset({"E"})}),
        Region(
            "west",
            countries=frozenset({"GB", "FR"}),
            postal_prefixes={"DE": frozenset({"66", "67"}), "GB": frozenset({"E1W"})},
        ),
    ]
)


def test_a_country_is_served_by_the_region_that_lists_it() -> None:
    assert REGIONS.region_of(country="PL", postal_code="00-001") == "east"
    assert REGIONS.region_of(country="FR", postal_code="75001") == "west"


def test_a_postal_prefix_beats_the_whole_country() -> None:
    assert REGIONS.region_of(country="DE", postal_code="66111") == "west"
    assert REGIONS.region_of(country="DE", postal_code="10115") == "east"
    assert REGIONS.region_of(country="GB", postal_code="E2 7DG") == "east"


def test_the_longest_matching_prefix_wins() -> None:
    assert REGIONS.region_of(country="GB", postal_code="E1W 1AA") == "west"
    assert REGIONS.region_of(country="GB", postal_code="E1 6AN") == "east"


def test_spaces_and_case_in_postal_codes_do_not_matter() -> None:
    assert REGIONS.region_of(country="GB", postal_code="e1w 1aa") == "west"
    assert REGIONS.region_of(country="gb", postal_code=" E 1 W1AA") == "west"


def test_an_address_no_region_serves_has_no_region() -> None:
    assert REGIONS.region_of(country="US", postal_code="10001") is None
    assert NO_REGIONS.region_of(country="DE", postal_code="10115") is None
    assert not NO_REGIONS
    assert REGIONS.names == {"east", "west"}


def test_two_regions_cannot_serve_the_same_whole_country() -> None:
    with pytest.raises(ValueError, match="country 'DE' is served whole by both 'east' and 'west'"):
        Regions([Region("east", frozenset({"DE"})), Region("west", frozenset({"DE"}))])


def test_two_regions_cannot_claim_the_same_postal_prefix() -> None:
    with pytest.raises(ValueError, match="postal prefix 'e1' of 'GB' is claimed by both"):
        Regions(
            [
                Region("east", postal_prefixes={"GB": frozenset({"E1"})}),
                Region("west", postal_prefixes={"GB": frozenset({"e1"})}),
            ]
        )


def test_a_region_that_serves_no_address_is_refused() -> None:
    with pytest.raises(ValueError, match="region 'north' serves no address"):
        Regions([Region("north")])


def test_a_blank_postal_prefix_is_refused() -> None:
    with pytest.raises(ValueError, match="empty postal prefix of 'GB'"):
        Regions([Region("east", postal_prefixes={"GB": frozenset({" "})})])
