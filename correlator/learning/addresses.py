"""A datastore named by its address: the clients' side and the server's side of one outage.

A client may name the database it fails on by address and service port (`peer="10.0.3.4:5432"`),
where the database's own exporter names the machine (`instance="db03:9187"`). Nothing in either
alert ties the two until some alert names both forms of the machine (the topology learns them
then, topology.py), so a cold or quiet daemon splits the outage from its clients' errors.

The port says what kind of datastore the address serves (`entities.DATASTORE_PORTS`: PostgreSQL,
MySQL, Redis, RabbitMQ, Kafka, Elasticsearch...), and the server's alert says its kind by its
name or scrape job (`entities.datastore_of`); the server is failing by an alert that is the cause
of a relate rule (an outage, not deadlocks or a replica lagging, which explain no client's
errors). While exactly one server of a kind fails and its clients fail on exactly one address of
that kind that no alert ties to a machine, the address is taken to be that server: the two are
one hop apart for the alert being placed, both ways (a client's alert finds the server's, the
server's alert finds its clients'). A relate rule must still relate the alerts' names, under the
same chance tests as any hop (joiner.py). Two servers of a kind failing at once, or two
addresses, are ambiguous: nothing is tied. The tie is not learned: it holds for the alert being
placed only, as a wrong one would relate every later alert.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Callable

RECENT = 256  # starts remembered per kind (within `reach`)
SERVER, CLIENT = "server", "client"


@dataclass(frozen=True, slots=True)
class Tie:
    """An address taken to be a server's, for one alert: a client's (it reaches the server) or the
    server's (it reaches the address)."""

    kind: str
    address: str  # the host entity the clients name
    server: str  # the host entity the server's alerts name
    from_client: bool

    @property
    def reached(self) -> str:
        """The entity the alert relates to through the tie..."""
        return self.server if self.from_client else self.address

    @property
    def via(self) -> str:
        """...and its own entity it hops from."""
        return self.address if self.from_client else self.server

    def describe(self) -> str:
        return (f"{self.address.rsplit('|', 1)[1]} is taken to be {self.server.rsplit('|', 1)[1]}: the only "
                f"{self.kind} server failing, and the only {self.kind} address its clients fail on that no "
                "alert ties to a machine")


class Addresses:
    """The recent starts of datastore servers and of clients failing on unresolved addresses, per kind."""

    def __init__(self, reach: float):
        self.reach = reach  # seconds a start stays a candidate (the longest relate rule's window)
        self._recent: dict[str, deque[tuple[float, str, str]]] = {}  # kind -> (t, SERVER or CLIENT, entity)

    def ties(self, addresses: tuple[tuple[str, str], ...], kind: str, host: str | None, failing: bool,
             resolved: Callable[[str], bool], t: float) -> tuple[tuple[str, str, str] | None, list[Tie]]:
        """For an alert received at `t` that is about a datastore of `kind` on its `host` (a server;
        `failing`: a relate rule's cause), or else names peer `addresses` ((host entity, kind) each:
        a client): (what it adds to the recent starts, as `observe` takes it, or None; the ties it
        makes). A server's own address in a peer label (postgres_exporter's `server`) makes it no
        client. `resolved(address)`: an alert tied the address to a machine."""
        if kind and host is not None:
            if not failing:
                return None, []
            if any(server != host for server in self._entities(kind, SERVER, t)):
                return (kind, SERVER, host), []
            clients = self._entities(kind, CLIENT, t)
            return (kind, SERVER, host), [Tie(kind, clients[0], host, False)] if len(clients) == 1 else []
        for address, of_kind in addresses:
            if resolved(address):
                continue
            servers = self._entities(of_kind, SERVER, t)
            return (of_kind, CLIENT, address), [Tie(of_kind, address, servers[0], True)] if len(servers) == 1 else []
        return None, []

    def observe(self, start: tuple[str, str, str], t: float) -> None:
        kind, role, entity = start
        self._recent.setdefault(kind, deque(maxlen=RECENT)).append((t, role, entity))

    def _entities(self, kind: str, role: str, t: float) -> list[str]:
        """The distinct entities of `role` of the kind's starts within `reach` of `t`."""
        recent = self._recent.get(kind)
        while recent and t - recent[0][0] > self.reach:
            recent.popleft()
        return list(dict.fromkeys(entity for _, side, entity in recent or () if side == role))
