"""``make run``: the whole suite on this machine, with a demo checkout placing orders.

Starts embedded PostgreSQL, the Tansu broker and the six services, seeds the demo
catalogue, places orders at a steady rate (a share of them asks for a sold-out
item and must be rejected), follows ``order.events.v1`` until every order has
finished, returns goods of a few completed orders (refunded in full, in part, rejected,
and exchanged), settles a parcel lost in transit with a claim (a reshipment) and a support
case about it, prints what happened and where to look, then keeps the suite running
until Ctrl-C (or SIGTERM) and stops everything it started.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from orderly_dev.bench import (
    FAST_SETTINGS,
    STALL_SECONDS,
    OpenLoopRun,
    drive_open_loop,
    first_seen_at,
    interrupt_on_sigterm,
    run_async,
    stop_and_verify,
    wait_for_ends,
)
from orderly_dev.checkout import DEMO_SKUS, Checkout, make_order
from orderly_dev.eventually import eventually
from orderly_dev.identity import DEFAULT_PORT, DevIssuer
from orderly_dev.report import (
    LatencySummary,
    Outcomes,
    durations,
    evenly_chosen,
    latency_table_rows,
    rate,
    summarize,
    tally,
)
from orderly_dev.returns import Claims, Json, Returns
from orderly_dev.servers import Servers, start_servers
from orderly_dev.stack import Stack, database_name
from orderly_dev.watch import TERMINAL, OrderWatcher
from orderly_kit.auth import Role

EXIT_INTERRUPTED = 130


@dataclass
class DemoResult:
    run: OpenLoopRun
    expected: dict[UUID, str]
    outcomes: Outcomes[UUID]
    terminal_per_second: float
    to_shipped: LatencySummary | None
    to_completed: LatencySummary | None
    example_order_number: str | None
    example_sku: str
    seen_types: dict[UUID, list[str]]
    completed: list[UUID]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="orderly-dev run",
        description="Run the whole suite locally and place demo orders through it.",
    )
    p.add_argument("--orders", type=int, default=100, help="how many orders to place")
    p.add_argument("--rate", type=float, default=50.0, help="orders placed per second")
    p.add_argument(
        "--sold-out-share",
        type=float,
        default=0.1,
        help="share of orders that include the sold-out item and must be rejected",
    )
    p.add_argument("--root", type=Path, default=None, help="data and log directory (default: temp)")
    p.add_argument(
        "--exit-after",
        action="store_true",
        help="stop once the summary is printed instead of waiting for Ctrl-C",
    )
    p.add_argument("--partitions", type=int, default=4, help="partitions per topic")
    p.add_argument(
        "--issuer-port",
        type=int,
        default=DEFAULT_PORT,
        help="port of the development token issuer (a free one if taken)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds to wait for every order to finish (default: grows with --orders)",
    )
    p.add_argument("--seed", type=int, default=None, help="random seed for the orders")
    ns = p.parse_args(argv)
    if ns.orders < 1:
        p.error(f"--orders {ns.orders}: place at least one order")
    if ns.rate <= 0:
        p.error(f"--rate {ns.rate}: must be above 0 orders per second")
    if not 0 <= ns.sold_out_share <= 1:
        p.error(f"--sold-out-share {ns.sold_out_share}: must be between 0 and 1")
    return ns


def finish_timeout(orders: int, rate_per_second: float) -> float:
    """Time to place every order, plus an allowance that grows with the count."""
    return orders / rate_per_second + max(120.0, 2.0 * orders)


async def place_and_watch(stack: Stack, args: argparse.Namespace, console: Console) -> DemoResult:
    """Place the orders open loop while following the lifecycle; wait for every end state."""
    bootstrap = stack.servers.kafka.bootstrap
    rng = random.Random(args.seed)
    sold_out = evenly_chosen(args.orders, args.sold_out_share)
    order_ids = [uuid4() for _ in range(args.orders)]
    expected = {
        oid: "Rejected" if bad else "Completed"
        for oid, bad in zip(order_ids, sold_out, strict=True)
    }
    timeout = args.timeout or finish_timeout(args.orders, args.rate)
    console.print(
        f"\n[bold]Placing {args.orders} orders[/] at {args.rate:g}/s"
        f" ({sum(sold_out)} with the sold-out item);"
        f" waiting for all to finish (at most {timeout:.0f} s,"
        f" or until none finishes for {STALL_SECONDS:g} s)"
    )
    async with OrderWatcher(bootstrap) as watcher, Checkout(bootstrap) as checkout:
        with Progress(
            TextColumn("{task.description:>9}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            placed_bar = progress.add_task("placed", total=args.orders)
            finished_bar = progress.add_task("finished", total=args.orders)
            waiting = asyncio.create_task(
                wait_for_ends(
                    watcher,
                    order_ids,
                    limit_seconds=timeout,
                    progress=lambda n: progress.update(finished_bar, completed=n),
                )
            )
            run = await drive_open_loop(
                checkout,
                order_ids,
                args.rate,
                lambda i, oid: make_order(rng, sold_out=sold_out[i], order_id=oid),
                on_sent=lambda n: progress.update(placed_bar, completed=n),
            )
            final = await waiting

        # One time per order (its first end event): a redelivered event must not count twice.
        terminal_times = [t for oid in order_ids if (t := first_end_time(watcher, oid)) is not None]
        example = next(
            (
                watcher.first(oid, "OrderConfirmed")
                for oid in order_ids
                if final.get(oid) == "OrderCompleted" and watcher.first(oid, "OrderConfirmed")
            ),
            None,
        ) or next((seen for oid in order_ids for seen in watcher.events.get(oid, ())), None)
        shipped = {oid: first_seen_at(watcher, oid, "OrderDispatched") for oid in order_ids}
        completed = {oid: first_seen_at(watcher, oid, "OrderCompleted") for oid in order_ids}
        seen_types = {oid: watcher.types(oid) for oid in order_ids}

    example_body: dict[str, Any] = example.body if example else {}
    lines = example_body.get("lines") or []
    elapsed = (max(terminal_times) - run.started_at) if terminal_times else 0.0
    return DemoResult(
        run=run,
        expected=expected,
        outcomes=tally(expected, final),
        terminal_per_second=rate(len(terminal_times), elapsed),
        to_shipped=summarize(durations(run.intended, shipped)),
        to_completed=summarize(durations(run.intended, completed)),
        example_order_number=example_body.get("order_number"),
        example_sku=str(lines[0]["sku"]) if lines else DEMO_SKUS[0],
        seen_types=seen_types,
        completed=[oid for oid in order_ids if final.get(oid) == "OrderCompleted"],
    )


#: The demo's returns: (reason, units damaged in the parcel, or None: support rejects it,
#: and whether the customer wants the same goods again in exchange instead of money).
RETURN_PLANS: tuple[tuple[str, int | None, bool], ...] = (
    ("damaged", 0, False),
    ("no_longer_needed", 1, False),
    ("not_as_described", None, False),
    ("damaged", 1, True),
)


async def return_some(stack: Stack, completed: Sequence[UUID], console: Console) -> list[Json]:
    """Return goods of the first completed orders, one plan each: the customer asks, the
    rules or support decide, the carrier brings the parcel back, the warehouse inspects
    it, and the payment service refunds; returns each return as it ended."""
    console.print(f"\n[bold]Returning goods of {min(len(completed), len(RETURN_PLANS))} orders[/]")
    ended: list[Json] = []
    support = stack.headers(Role.SUPPORT, sub="demo-support")
    async with httpx.AsyncClient(timeout=10) as client:
        returns = Returns(stack, client)
        for order_id, (reason, damaged, exchange) in zip(completed, RETURN_PLANS, strict=False):
            got = await client.get(f"{stack.url('order')}/orders/{order_id}", headers=support)
            got.raise_for_status()
            order = got.json()
            line = max(order["lines"], key=lambda ln: ln["quantity"])
            units = min(line["quantity"], 2)
            asked = await returns.ask(
                order_id,
                order["customer"]["customer_id"],
                [{"sku": line["sku"], "quantity": units}],
                reason,
                replacement=[{"sku": line["sku"], "quantity": units}] if exchange else (),
            )
            if damaged is None:
                await returns.reject(asked["return_id"], "the goods are as the listing shows")
            else:
                if asked["status"] == "requested":
                    await returns.approve(asked["return_id"])
                arrived = await returns.reached(asked["return_id"], "arrived")
                broken = min(damaged, units)
                found = [
                    {"sku": line["sku"], "quantity": n, "condition": condition}
                    for n, condition in ((units - broken, "resellable"), (broken, "damaged"))
                    if n
                ]
                inspected = await returns.inspect(arrived, found)
                assert inspected.status_code in (200, 201), inspected.text
                await returns.reached(asked["return_id"], "completed")
            ended.append(await returns.seen(asked["return_id"]))
    return ended


#: The carrier loses an order's own parcels to this postal code; a replacement arrives.
LOST_ONCE_POSTAL_CODE = "00002"


@dataclass
class AfterSales:
    """What the demo's claim and case came to."""

    claim: Json
    order: Json
    case: Json


async def settle_a_lost_parcel(stack: Stack, console: Console) -> AfterSales:
    """An order whose parcel the carrier loses: the customer opens a case, support settles
    it with a claim (the goods sent again from stock), answers and resolves the case, and
    the customer rates it once the replacement arrived."""
    console.print("\n[bold]A parcel lost in transit: a case, and a claim that reships it[/]")
    order = make_order(random.Random(7), order_id=uuid4(), postal_code=LOST_ONCE_POSTAL_CODE)
    customer_id = order.customer.customer_id
    support = stack.headers(Role.SUPPORT, sub="demo-support")
    customer = stack.headers(Role.CUSTOMER, customer_id=customer_id)
    async with Checkout(stack.servers.kafka.bootstrap) as checkout:
        await checkout.place(order)
    async with httpx.AsyncClient(timeout=10) as client:
        orders = f"{stack.url('order')}/orders/{order.order_id}"
        cases = f"{stack.url('support')}/cases"

        async def needs_attention() -> bool:
            r = await client.get(orders, headers=support)
            return r.status_code == 200 and r.json()["status"] == "needs_attention"

        await eventually(needs_attention, within=90, what="the lost order needing attention")
        opened = await client.post(
            cases,
            json={
                "category": "delivery",
                "subject": "My parcel never came",
                "message": "The tracking says the parcel failed in transit.",
                "order": str(order.order_id),
            },
            headers=customer,
        )
        assert opened.status_code == 201, opened.text
        case_id = opened.json()["case_id"]
        claim = await Claims(stack, client).open(order.order_id, "reshipment")
        for path, body in (
            ("messages", {"body": f"We are sending your goods again ({claim['claim_number']})."}),
            ("status", {"status": "resolved"}),
        ):
            r = await client.post(f"{cases}/{case_id}/{path}", json=body, headers=support)
            assert r.status_code in (200, 201), r.text
        claim = await Claims(stack, client).reached(claim["claim_id"], "delivered", within=90)
        rated = await client.post(
            f"{cases}/{case_id}/satisfaction", json={"score": 5}, headers=customer
        )
        assert rated.status_code in (200, 201), rated.text
        seen_order = (await client.get(orders, headers=support)).json()
        seen_case = (await client.get(f"{cases}/{case_id}", headers=support)).json()
    return AfterSales(claim=claim, order=seen_order, case=seen_case)


def print_after_sales(console: Console, after: AfterSales) -> None:
    claim, order, case = after.claim, after.order, after.case
    steps = " → ".join(h["status"] for h in order["status_history"])
    console.print(
        f"  {claim['claim_number']} ({claim['kind']}, {claim['resolution']}) of"
        f" {order['order_number']}: {claim['status']}; the order: {steps}",
        highlight=False,
    )
    console.print(
        f"  case {case['case_number']} ({case['category']}): {case['status']},"
        f" satisfaction {case.get('satisfaction')}",
        highlight=False,
    )


def first_end_time(watcher: OrderWatcher, order_id: UUID) -> float | None:
    return next(
        (e.published_at for e in watcher.events.get(order_id, ()) if e.type in TERMINAL), None
    )


def print_starting(console: Console, servers: Servers) -> None:
    pg = servers.postgres
    console.print(f"  PostgreSQL  {pg.libpq('{db}')}", markup=False)
    console.print(f"  Kafka       {servers.kafka.bootstrap}  (Tansu, memory storage)")
    console.print(f"  data, logs  {servers.root}")


def print_returns(console: Console, returned: Sequence[Json]) -> None:
    table = Table(title="Returns")
    for col in ("return", "reason", "resolution", "status", "refunded", "fee"):
        numeric = col in ("refunded", "fee")
        table.add_column(col, justify="right" if numeric else "left", no_wrap=True)
    for r in returned:
        table.add_row(
            r["return_number"],
            r["reason"],
            r["resolution"],
            r["status"],
            _money(r["refunded"]),
            _money(r["restocking_fee"]),
        )
    console.print(table)
    for r in returned:
        steps = " → ".join(h["status"] for h in r["history"])
        console.print(f"  {r['return_number']} of {r['order_number']}: {steps}", highlight=False)


def _money(money: Json | None) -> str:
    if money is None:
        return "-"
    return f"{money['currency']} {money['amount'] / 100:.2f}"


def print_summary(
    console: Console,
    stack: Stack,
    result: DemoResult,
    returned: Sequence[Json] = (),
    after: AfterSales | None = None,
) -> None:
    outcomes = result.outcomes
    wanted = {
        s: sum(1 for v in result.expected.values() if v == s) for s in ("Completed", "Rejected")
    }

    states = Table(title="Orders by final state")
    states.add_column("state")
    states.add_column("orders", justify="right")
    states.add_column("expected", justify="right")
    for state, count in outcomes.counts().items():
        states.add_row(state, str(count), str(wanted.get(state, 0)))
    console.print(states)

    timing = Table(title="Timing (from each order's scheduled send time)")
    timing.add_column("")
    for col in ("n", "p50", "p95", "p99", "max"):
        timing.add_column(col, justify="right")
    for row in latency_table_rows(
        [("placed → shipped", result.to_shipped), ("placed → completed", result.to_completed)]
    ):
        timing.add_row(*row)
    console.print(timing)
    console.print(
        f"throughput: {result.terminal_per_second:.1f} finished orders/s over the run"
        f" (the checkout fell at most {result.run.max_lag * 1000:.0f} ms behind its schedule)"
    )
    if returned:
        print_returns(console, returned)
    if after is not None:
        console.print("[bold]After sales[/]")
        print_after_sales(console, after)

    urls = Table(title="Where to look")
    urls.add_column("what")
    urls.add_column("URL")
    urls.add_column("HTTP", justify="right")
    links: list[tuple[str, str]] = []
    for name, proc in stack.processes.items():
        links.append((f"{name} API docs", f"{proc.url}/docs"))
        links.append((f"{name} metrics", f"{proc.url}/metrics"))
    if "order" in stack.processes:
        number = result.example_order_number or "<order number>"
        links.append(("an order", f"{stack.url('order')}/orders/{number}"))
        if returned:
            links.append(("a return", f"{stack.url('order')}/returns/{returned[0]['return_id']}"))
        if after is not None:
            links.append(("a claim", f"{stack.url('order')}/claims/{after.claim['claim_id']}"))
    if "support" in stack.processes and after is not None:
        links.append(("a case", f"{stack.url('support')}/cases/{after.case['case_id']}"))
    if "inventory" in stack.processes:
        links.append(("stock of an item", f"{stack.url('inventory')}/stock/{result.example_sku}"))
    if "analytics" in stack.processes:
        links.append(("KPIs", f"{stack.url('analytics')}/kpis"))
    with httpx.Client(timeout=5, headers=stack.headers(Role.ADMIN, sub="demo")) as client:
        for what, url in links:
            urls.add_row(what, url, http_status(client, url))
    console.print(urls)
    print_tokens(console, stack)
    console.print(
        f"service logs: {stack.root}/<service>.log, databases: "
        + ", ".join(database_name(n) for n in stack.processes)
    )

    if not outcomes.ok:
        console.print(
            f"[red]{len(outcomes.unexpected)} orders did not end as expected[/] (first 10):"
        )
        for oid, (want, got) in list(outcomes.unexpected.items())[:10]:
            seen = " → ".join(result.seen_types.get(oid, [])) or "no lifecycle event"
            console.print(f"  {oid}: expected {want}, got {got} ({seen})")


def start_issuer(port: int) -> DevIssuer:
    """The development issuer on ``port``, or on a free port if that one is taken."""
    try:
        return DevIssuer(port=port).start()
    except OSError:
        return DevIssuer().start()


def print_tokens(console: Console, stack: Stack) -> None:
    """A ready token per role (valid for a day), and how to make others."""
    console.print("[bold]Tokens[/] (send as Authorization: Bearer <token>), valid for a day:")
    for role in Role:
        subject = "C00001" if role is Role.CUSTOMER else f"demo-{role.value}"
        token = stack.issuer.token(role, sub=subject, ttl=86_400)
        console.print(f"{role.value:<10} {token}", soft_wrap=True, highlight=False)
    console.print(
        "More: orderly-dev token --role support --sub alice"
        f" --issuer {stack.issuer.url}  (a customer token reads only that customer's orders)"
    )


def http_status(client: httpx.Client, url: str) -> str:
    try:
        return str(client.get(url).status_code)
    except httpx.HTTPError as exc:
        return type(exc).__name__


def wait_for_signal() -> None:
    """Block until SIGINT (Ctrl-C) or SIGTERM (turned into KeyboardInterrupt)."""
    while True:
        signal.pause()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the suite, place demo orders, summarize, and keep running until interrupted."""
    args = parse_args(argv)
    interrupt_on_sigterm()
    console = Console()
    servers: Servers | None = None
    stack: Stack | None = None
    issuer: DevIssuer | None = None
    result: DemoResult | None = None
    leftovers: list[str] = []
    failed = returns_failed = False
    try:
        console.rule("[bold]Orderly")
        console.print("Starting PostgreSQL (embedded) and Kafka (Tansu)…")
        servers = start_servers(args.root)
        print_starting(console, servers)
        issuer = start_issuer(args.issuer_port)
        console.print(f"Development token issuer at {issuer.url} (orderly-dev token)")
        stack = Stack(
            servers=servers, partitions=args.partitions, settings=FAST_SETTINGS, identity=issuer
        )
        console.print("Creating databases and topics…")
        stack.prepare()
        console.print("Starting services…")
        stack.start_services()
        for name, proc in stack.processes.items():
            console.print(f"  {name:<12} {proc.url}  (log {proc.log_path.name})")
        console.print("Seeding the demo catalogue (inventory seed-demo)…")
        stack.run_command("inventory", "seed-demo")
        result = run_async(place_and_watch(stack, args, console))
        try:
            returned = run_async(return_some(stack, result.completed, console))
        except (AssertionError, TimeoutError, httpx.HTTPError) as exc:
            console.print(Text(f"the demo's returns did not end as expected: {exc}", style="red"))
            returned, returns_failed = [], True
        after: AfterSales | None = None
        try:
            after = run_async(settle_a_lost_parcel(stack, console))
        except (AssertionError, TimeoutError, httpx.HTTPError) as exc:
            console.print(Text(f"the demo's claim did not end as expected: {exc}", style="red"))
            returns_failed = True
        print_summary(console, stack, result, returned, after)
        if not args.exit_after:
            console.print("\nThe suite keeps running. [bold]Ctrl-C[/] stops everything.")
            wait_for_signal()
    except KeyboardInterrupt:
        console.print("\ninterrupted")
    except (RuntimeError, TimeoutError) as exc:  # a service that did not start: say which, why
        console.print(Text(f"could not run the suite: {exc}", style="red"))
        failed = True
    finally:
        target = stack or servers
        if target is not None and servers is not None:
            console.print("Stopping services and servers…")
            leftovers = stop_and_verify(target.stop, servers.root)
            if leftovers:
                console.print(f"[red]still running after stop, killed:[/] {', '.join(leftovers)}")
            else:
                console.print("stopped; no process left behind")
        if issuer is not None:
            issuer.stop()
    if failed:
        return 1
    if result is None:
        return EXIT_INTERRUPTED
    return 0 if result.outcomes.ok and not leftovers and not returns_failed else 1


if __name__ == "__main__":
    raise SystemExit(main())
