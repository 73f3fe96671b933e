"""Regions: which warehouse region serves a shipping address (no I/O).

A region serves whole countries and/or the parts of a country whose postal codes
start with given prefixes. The most specific rule wins: a postal prefix beats a
whole country, and a longer prefix beats a shorter one, so a country can be
served by one region except for a few postal areas that another serves. Two
regions may not claim the same country, or the same prefix of one country: the
answer would depend on the order they were written in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


def normalized_postal_code(postal_code: str) -> str:
    """Upper case without spaces: 'n1 9gu' and 'N19GU' start with the same prefixes."""
    return "".join(postal_code.split()).upper()


@dataclass(frozen=True)
class Region:
    """One region: the countries it serves whole, and postal prefixes per country."""

    name: str
    countries: frozenset[str] = frozenset()
    postal_prefixes: Mapping[str, frozenset[str]] = field(default_factory=dict)


class Regions:
    """The mapping from a shipping address (country, postal code) to a region name."""

    def __init__(self, regions: Iterable[Region] = ()) -> None:
        self._by_country: dict[str, str] = {}
        self._by_prefix: dict[tuple[str, str], str] = {}
        self.names: frozenset[str] = frozenset()
        names = set()
        for region in regions:
            if region.name in names:
                raise ValueError(f"region {region.name!r} is defined twice: define it once")
            names.add(region.name)
            if not region.countries and not any(region.postal_prefixes.values()):
                raise ValueError(
                    f"region {region.name!r} serves no address: give it countries or"
                    " postal_prefixes"
                )
            for country in sorted(region.countries):
                other = self._by_country.setdefault(country, region.name)
                if other != region.name:
                    raise ValueError(
                        f"country {country!r} is served whole by both {other!r} and"
                        f" {region.name!r}: give it to one region, and the other its"
                        " postal_prefixes"
                    )
            for country, prefixes in sorted(region.postal_prefixes.items()):
                for prefix in sorted(prefixes):
                    key = (country, normalized_postal_code(prefix))
                    if not key[1]:
                        raise ValueError(
                            f"region {region.name!r}: an empty postal prefix of {country!r}"
                            " would match every address; list the country instead"
                        )
                    other = self._by_prefix.setdefault(key, region.name)
                    if other != region.name:
                        raise ValueError(
                            f"postal prefix {prefix!r} of {country!r} is claimed by both"
                            f" {other!r} and {region.name!r}: give it to one region"
                        )
        self.names = frozenset(names)

    def __bool__(self) -> bool:
        return bool(self.names)

    def region_of(self, *, country: str, postal_code: str) -> str | None:
        """The region serving the address; None when no region serves it."""
        code = normalized_postal_code(postal_code)
        country = country.upper()
        for length in range(len(code), 0, -1):
            region = self._by_prefix.get((country, code[:length]))
            if region is not None:
                return region
        return self._by_country.get(country)


NO_REGIONS = Regions()
