"""Writes the contract's ISO code lists (``orderly_schemas.iso_codes``) from pycountry.

The contract carries the lists instead of depending on pycountry at run time: what it
accepts is then fixed by its own version (two consumers with two pycountry releases
would otherwise disagree on a code, and one would accept what the other refuses), the
JSON Schemas can list the codes, and teams that depend on the contract get no data
package with it. ``make schemas`` runs this; the contract tests fail while the committed
module differs from what the pinned pycountry gives, so a new code (or a withdrawn one)
comes in as a reviewed change.
"""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Final

import pycountry

#: ISO 4217 codes that name no money: "no currency" and "for testing".
NOT_MONEY: Final = frozenset({"XXX", "XTS"})

_TEMPLATE = '''"""ISO 4217 currency codes and ISO 3166-1 alpha-2 country codes, as this
version of the contract accepts them: generated from pycountry {version} by
``python -m orderly_dev.iso_codes`` (``make schemas`` runs it); do not edit.

The currencies leave out XXX (no currency) and XTS (for testing): neither is money.
"""

from typing import Final

CURRENCIES: Final[tuple[str, ...]] = (
{currencies}
)

COUNTRIES: Final[tuple[str, ...]] = (
{countries}
)
'''


def currencies() -> list[str]:
    """Every ISO 4217 code that names money, sorted."""
    return sorted({c.alpha_3 for c in pycountry.currencies} - NOT_MONEY)


def countries() -> list[str]:
    """Every ISO 3166-1 alpha-2 country code, sorted."""
    return sorted(c.alpha_2 for c in pycountry.countries)


def render() -> str:
    """The text of ``orderly_schemas/iso_codes.py``."""
    return _TEMPLATE.format(
        version=version("pycountry"),
        currencies=_rows(currencies()),
        countries=_rows(countries()),
    )


def _rows(codes: list[str]) -> str:
    # One a line, as the formatter lays out a tuple with a trailing comma.
    return "\n".join(f'    "{code}",' for code in codes)


def main(argv: list[str] | None = None) -> int:
    """Write the module, or with --check report whether it is stale."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path", type=Path, help="orderly_schemas/iso_codes.py")
    parser.add_argument("--check", action="store_true", help="fail if the module is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not args.path.exists() or args.path.read_text() != text:
            print(f"{args.path} is stale: run make schemas", file=sys.stderr)
            return 1
        return 0
    args.path.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
