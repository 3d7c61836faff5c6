"""`correlator forward`: the deliveries pending or dead-lettered, retrying dead letters, and a test
delivery to a configured destination (wiring, as in cli.py)."""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
from datetime import datetime, timezone

import aiohttp

from correlator.domain import Incident, IncidentState
from correlator.forward import registry
from correlator.forward.changes import snapshot
from correlator.forward.contract import ChangeKind, Delivery, DestinationError, IncidentChange, Outcome, OutcomeKind
from correlator.units import number_in


def add_commands(commands, config_flag, db_flag) -> None:
    forward = commands.add_parser(
        "forward", help="inspect and retry forwarding deliveries, test a destination",
        description="Deliveries of incident changes to the forwarding destinations (docs/forwarding.md).")
    actions = forward.add_subparsers(dest="forward_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="deliveries pending (or dead-lettered with --dead), oldest first",
                                 description="Print the deliveries pending, or dead-lettered with --dead, oldest "
                                             "first: id, incident, destination, change, attempts, last error.")
    listing.add_argument("--dead", action="store_true", help="the dead letters instead")
    listing.add_argument("--destination", metavar="NAME", help="only this destination's")
    listing.add_argument("--limit", type=number_in(int, 1), default=100, help="at most this many (default 100)")
    retry = actions.add_parser("retry", help="make dead letters pending again",
                               description="Make dead-lettered deliveries pending again, due now: the ids given, "
                                           "or every one with --all-dead (of --destination if given).")
    retry.add_argument("ids", nargs="*", type=int, metavar="ID")
    retry.add_argument("--all-dead", action="store_true", help="every dead letter")
    retry.add_argument("--destination", metavar="NAME", help="with --all-dead: only this destination's")
    test = actions.add_parser("test", help="send a test change to a destination and print the outcome",
                              description="Build the destination from the configuration and deliver one test "
                                          "change (an incident opened, TEST-...) through it, as the worker would; "
                                          "print the outcome. Exit 1 unless delivered.")
    test.add_argument("destination", metavar="DEST")
    for action in (listing, retry, test):
        config_flag(action)
        db_flag(action)


def run(args: argparse.Namespace, load) -> int:
    config, _ = load(args)
    if args.forward_command == "test":
        return _test(config, args.destination)
    from correlator.store import database
    from correlator.store.outbox import Outbox, OutboxState

    store = database.create_engine(config.database_url)
    database.upgrade(store)
    box = Outbox(store)
    if args.forward_command == "list":
        rows = box.list(OutboxState.DEAD if args.dead else OutboxState.PENDING, args.destination, args.limit)
        for row in rows:
            print(f"{row.id}\t{row.incident_id}\t{row.destination}\t{row.kind}\tattempts={row.attempts}\t"
                  f"{(row.last_error or '').splitlines()[0][:200] if row.last_error else ''}")
        print(f"{len(rows)} {'dead' if args.dead else 'pending'} deliveries", file=sys.stderr)
        return 0
    if not args.ids and not args.all_dead:
        print("correlator: give delivery ids or --all-dead", file=sys.stderr)
        return 2
    retried = box.retry(datetime.now(timezone.utc), args.ids, args.all_dead, args.destination)
    missing = sorted(set(args.ids) - set(retried))
    print(f"{len(retried)} dead letter(s) pending again" + (f"; not dead letters: {missing}" if missing else ""))
    return 1 if missing else 0


def test_change(now: datetime) -> IncidentChange:
    incident = Incident(id=f"TEST-{secrets.token_hex(3).upper()}", state=IncidentState.OPEN,
                        title="correlator test delivery", opened_at=now, last_alert_at=now, group_key="test")
    return IncidentChange(ChangeKind.OPENED, now, "correlator", snapshot(incident))


def _test(config, name: str) -> int:
    from correlator import wiring

    specs = {spec.name: spec for spec in wiring.forwarding(config).specs}
    if name not in specs:
        print(f"correlator: no destination {name!r}; configured: {', '.join(sorted(specs)) or 'none'}",
              file=sys.stderr)
        return 2
    try:
        outcome = asyncio.run(_deliver_test(specs[name]))
    except DestinationError as error:
        print(f"correlator: {error}", file=sys.stderr)
        return 2
    print(f"{name}: {outcome.kind.value}" + (f": {outcome.reason}" if outcome.reason else "")
          + (f" (remote {outcome.remote.key} {outcome.remote.url})".rstrip() if outcome.remote else ""))
    return 0 if outcome.kind is OutcomeKind.DELIVERED else 1


async def _deliver_test(spec: registry.DestinationSpec) -> Outcome:
    now = datetime.now(timezone.utc)
    change = test_change(now)
    async with aiohttp.ClientSession() as http:
        destination = registry.build(spec, http)
        try:
            return await destination.deliver(Delivery(0, spec.name, change, f"correlator-test-{secrets.token_hex(8)}",
                                                      None, 1, now))
        except Exception as error:  # what the worker would retry: shown, not raised
            return Outcome(OutcomeKind.RETRY, f"{type(error).__name__}: {error}")
        finally:
            await destination.close()
