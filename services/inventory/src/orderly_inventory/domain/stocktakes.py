"""Stock-takes (cycle counts): counting a warehouse's shelves and correcting the stock (no I/O).

A stock-take is opened for a warehouse, for every SKU it holds or for listed SKUs;
each line keeps the on hand the system had when the stock-take opened. Counters
record counts while it is open; each count remembers the on hand the system had
*at the moment it was recorded*, so that shipments, receipts and transfers that
happen while the warehouse counts are never mistaken for a variance:

    variance = counted - system on hand when the count was recorded

Approval applies each line's variance to the stock as it is then (after whatever
moved since the count), so stock that moved after the count is left alone.

Reserved units are still on the shelf until they ship, so counters count them;
a count below what is reserved there cannot be applied (see ``check_shelves``).

Several counters may count one line. The line's counted quantity is its latest
count, whoever recorded it: a supervisor's recount settles a disagreement by
being the latest. A counter's later count replaces their earlier one (every
count stays in the history); ``Line.counters_agree`` says whether the counters'
current counts agree on the variance (quantities may differ when stock moved
between two counts), so a reviewer sees which lines to recount before approving.

States: open -> approved (the variances are applied, once) or open -> cancelled.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from orderly_inventory.domain.errors import ConflictError

#: The ledger reason of a stock-take's adjustment movements and StockAdjusted events.
VARIANCE_REASON = "stock-take variance"
#: How many SKUs an error message names before it says "and N more".
NAMED_IN_ERRORS = 10


class StockTakeStatus(StrEnum):
    OPEN = "open"  # counts are being recorded
    APPROVED = "approved"  # the variances were applied to the stock
    CANCELLED = "cancelled"  # abandoned; the stock was not changed


class Scope(StrEnum):
    ALL = "all"  # every SKU the warehouse holds, and any SKU found on its shelves
    LISTED = "listed"  # only the SKUs listed when it was opened


class UncountedPolicy(StrEnum):
    """What approval does with lines nobody counted."""

    REFUSE = "refuse"  # approval is refused while any line is uncounted
    LEAVE_UNCHANGED = "leave_unchanged"  # uncounted lines keep their stock as it is


def name_skus(skus: Sequence[str]) -> str:
    """'A, B, C' or 'A, B, ... and 5 more': SKUs for an error message, bounded."""
    shown = ", ".join(skus[:NAMED_IN_ERRORS])
    more = len(skus) - NAMED_IN_ERRORS
    return f"{shown} and {more} more" if more > 0 else shown


@dataclass(frozen=True)
class Count:
    """One counter's count of one line, with the on hand the system had when it was recorded."""

    count_id: UUID
    counted_by: str
    quantity: int
    system_on_hand: int
    counted_at: datetime

    @property
    def variance(self) -> int:
        return self.quantity - self.system_on_hand


@dataclass(frozen=True)
class Line:
    """One SKU of a stock-take: its on hand at opening, every count (oldest first), the result."""

    sku: str
    on_hand_at_open: int
    counts: tuple[Count, ...] = ()
    #: Units approval added to on hand (negative: removed); None until approved, and for
    #: a line left uncounted.
    adjustment: int | None = None

    @property
    def latest(self) -> Count | None:
        return self.counts[-1] if self.counts else None

    @property
    def counted(self) -> int | None:
        """The counted quantity: the latest count, or None while uncounted."""
        latest = self.latest
        return None if latest is None else latest.quantity

    @property
    def expected(self) -> int:
        """What the system expected on the shelf: at the latest count, or at opening."""
        latest = self.latest
        return self.on_hand_at_open if latest is None else latest.system_on_hand

    @property
    def variance(self) -> int | None:
        latest = self.latest
        return None if latest is None else latest.variance

    @property
    def current_counts(self) -> tuple[Count, ...]:
        """Each counter's latest count (a recount replaces the counter's earlier one)."""
        latest_of: dict[str, Count] = {}
        for count in self.counts:
            latest_of[count.counted_by] = count
        return tuple(sorted(latest_of.values(), key=self.counts.index))

    @property
    def counters_agree(self) -> bool:
        """True unless two counters' current counts differ in variance."""
        return len({c.variance for c in self.current_counts}) <= 1


@dataclass(frozen=True)
class Totals:
    """What a reviewer looks at before approving."""

    lines: int
    counted: int
    uncounted: int
    with_variance: int
    disputed: int  # counted lines whose counters disagree
    units_over: int  # found more than expected, summed over lines
    units_short: int  # found fewer than expected, summed over lines (positive)
    net_variance: int


def totals(lines: Iterable[Line]) -> Totals:
    lines = list(lines)
    variances = [line.variance for line in lines if line.variance is not None]
    return Totals(
        lines=len(lines),
        counted=len(variances),
        uncounted=len(lines) - len(variances),
        with_variance=sum(1 for v in variances if v != 0),
        disputed=sum(1 for line in lines if line.counts and not line.counters_agree),
        units_over=sum(v for v in variances if v > 0),
        units_short=-sum(v for v in variances if v < 0),
        net_variance=sum(variances),
    )


@dataclass(frozen=True)
class Adjustment:
    """The change approval makes to one SKU's on hand."""

    sku: str
    quantity_change: int


@dataclass(frozen=True)
class Shelf:
    """One SKU's stock in the stock-take's warehouse as approval finds it (locked)."""

    sku: str
    on_hand: int
    reserved: int


@dataclass(frozen=True)
class StockTake:
    id: UUID
    warehouse: str
    scope: Scope
    status: StockTakeStatus
    opened_by: str
    opened_at: datetime
    note: str | None = None
    approved_by: str | None = None
    approved_at: datetime | None = None
    cancelled_by: str | None = None
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None
    lines: tuple[Line, ...] = field(default=())

    def line(self, sku: str) -> Line | None:
        return next((line for line in self.lines if line.sku == sku), None)

    def check_countable(self, sku: str) -> bool:
        """Whether ``sku`` may be counted now: True if it is a line, False if it becomes one.

        A stock-take of all SKUs takes any SKU found on the shelves as a new line
        (expected 0 at opening: its level did not exist then); a stock-take of listed
        SKUs refuses others, which need a stock-take of their own.
        """
        if self.status is not StockTakeStatus.OPEN:
            raise ConflictError(
                f"stock-take {self.id} is {self.status.value}: counts can no longer be recorded;"
                " open a new stock-take to count again"
            )
        if self.line(sku) is not None:
            return True
        if self.scope is Scope.ALL:
            return False
        listed = [line.sku for line in self.lines]
        raise ConflictError(
            f"sku {sku!r} is not in stock-take {self.id}, which counts only"
            f" {len(listed)} listed sku(s) at {self.warehouse!r} ({name_skus(listed)});"
            f" open another stock-take for {sku!r}"
        )

    def check_approvable(self) -> bool:
        """True if approval has work to do; False if it was approved already (a repeat)."""
        if self.status is StockTakeStatus.APPROVED:
            return False
        if self.status is StockTakeStatus.CANCELLED:
            raise ConflictError(
                f"stock-take {self.id} was cancelled by {self.cancelled_by}: it cannot be"
                " approved; open a new stock-take"
            )
        return True

    def check_cancellable(self) -> bool:
        """True if cancelling has work to do; False if it was cancelled already (a repeat)."""
        if self.status is StockTakeStatus.CANCELLED:
            return False
        if self.status is StockTakeStatus.APPROVED:
            raise ConflictError(
                f"stock-take {self.id} was approved by {self.approved_by}: its adjustments are"
                " in the ledger and it cannot be cancelled; open a new stock-take to correct it"
            )
        return True

    def adjustments(self, uncounted: UncountedPolicy) -> list[Adjustment]:
        """The non-zero variances to apply, in SKU order; refuses uncounted lines unless told."""
        missing = [line.sku for line in self.lines if line.latest is None]
        if missing and uncounted is UncountedPolicy.REFUSE:
            raise ConflictError(
                f"stock-take {self.id} has {len(missing)} uncounted line(s): {name_skus(missing)};"
                " count them, or approve with uncounted='leave_unchanged' to keep their stock"
                " as it is"
            )
        return sorted(
            (
                Adjustment(line.sku, line.variance)
                for line in self.lines
                if line.variance is not None and line.variance != 0
            ),
            key=lambda a: a.sku,
        )


@dataclass(frozen=True)
class BelowReserved:
    """An adjustment that would leave fewer units on hand than are reserved."""

    sku: str
    on_hand_after: int
    reserved: int


def below_reserved(
    adjustments: Iterable[Adjustment], shelves: Mapping[str, Shelf]
) -> list[BelowReserved]:
    """The adjustments that would leave on hand below what is reserved (or below zero).

    Reserved units are on the shelf until they ship, so a correct count includes
    them; a count below the reserved units means stock promised to orders is not
    there. Approval does not choose which orders go without: it refuses (see
    ``approval_refused``), and nothing is applied unless everything can be.
    """
    short = []
    for a in adjustments:
        shelf = shelves.get(a.sku, Shelf(a.sku, 0, 0))
        after = shelf.on_hand + a.quantity_change
        if after < shelf.reserved:
            short.append(BelowReserved(a.sku, after, shelf.reserved))
    return short


def approval_refused(
    stock_take: StockTake,
    short: Sequence[BelowReserved],
    holders: Mapping[str, Sequence[str]],
) -> ConflictError:
    """The refusal naming each SKU the count leaves below its reservations and their orders."""

    def one(s: BelowReserved) -> str:
        orders = holders.get(s.sku)
        held = f" (held for orders {', '.join(orders)})" if orders else ""
        return (
            f"sku {s.sku!r}: the count leaves {s.on_hand_after} on hand but {s.reserved}"
            f" are reserved{held}"
        )

    details = "; ".join(one(s) for s in short[:NAMED_IN_ERRORS])
    if len(short) > NAMED_IN_ERRORS:
        details += f"; and {len(short) - NAMED_IN_ERRORS} more sku(s)"
    return ConflictError(
        f"stock-take {stock_take.id} cannot be approved at {stock_take.warehouse!r}: {details}."
        " Recount these skus, or have the orders holding them cancelled or re-allocated,"
        " then approve again; nothing was applied"
    )


@dataclass(frozen=True)
class OpenStockTake:
    """Another open stock-take of the same warehouse, as opening a new one sees it."""

    id: UUID
    scope: Scope
    skus: frozenset[str]


def check_no_overlap(
    warehouse: str, scope: Scope, skus: Iterable[str], others: Iterable[OpenStockTake]
) -> None:
    """Refuse to open a stock-take that shares SKUs with one still open in the warehouse.

    Two open stock-takes of one SKU would each apply its variance at approval, and
    the stock would be corrected twice. A stock-take of all SKUs may grow found
    SKUs as lines, so it overlaps every other stock-take of its warehouse.
    """
    wanted = set(skus)
    for other in others:
        if other.scope is Scope.ALL:
            what = "counts every sku there"
        elif scope is Scope.ALL:
            what = f"counts {name_skus(sorted(other.skus))}, and a count of all skus includes them"
        else:
            common = sorted(wanted & other.skus)
            if not common:
                continue
            what = f"counts {name_skus(common)} too"
        raise ConflictError(
            f"stock-take {other.id} is still open at {warehouse!r} and {what}: approve or"
            " cancel it first (a sku counted twice would be corrected twice)"
        )
