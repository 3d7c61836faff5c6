"""Which member of an incident is its cause (the root alert): the one the category comes from.

A fault propagates upwards and onwards: a disk fails, then the node, then its pods, then the
probes of what they serve. So the root is the earliest-starting member, with a lower layer of the
stack (`lexicon.LAYERS`) and a higher severity counting as an earlier start, and a member that
joined as a symptom of another (suppress rule) counting as a later one. A security detection or
a human error (a certificate left to expire, a manual change) counts as the lowest layer: it explains
what fails around it (a miner burns the CPU, an expired certificate fails handshakes), never the reverse,
though its own rule often fires later. A host's resource running out counts as a layer above the
host: what runs on it, a stuck mount or a miner drive it. Scores are absolute, so
the ranking is kept incrementally: a join compares one member with the few best so far. Among
those few, a relate rule that names one the cause of another puts it first (`in_causal_order`).
"""

from __future__ import annotations

import math
from typing import Callable, Iterable, Mapping, Sequence

import msgspec

from correlator.domain import Category, JoinReason, Member
from correlator.ml.lexicon import Reading, read
from correlator.rules.roles import Roles
from correlator.rules.schema import SEVERITY_LABELS

# Each layer's handicap, as minutes of a later start. The rules of the layers below wait 5-15
# minutes (`for`) before they fire, while a probe sees a fault of what it probes within a minute
# or two: it is a symptom however early it fires. Hosts are reached through their network, and a
# host that is down reports nothing of its interfaces: a link down explains the hosts lost. A certificate is checked on a schedule, and what
# fails for it (renewal, then expiry, then handshakes and probes) fails in that order.
LAYER_MINUTES = {"hardware": 0.0, "certificate": 0.0, "node": 10.0, "network": 5.0, "storage": 15.0, "data": 20.0, "application": 25.0,
                 "probe": 45.0, "monitoring": 45.0}
SEVERITY_MINUTES = {"critical": 2.0, "page": 2.0, "error": 1.0, "warning": 0.0, "info": -2.0, "none": -2.0}
SYMPTOM_MINUTES = 10.0  # a suppress rule's target is explained by its source
HOST_USAGE_MINUTES = LAYER_MINUTES["storage"]  # a host's load, memory or disk running out
CANDIDATES = 4  # the best few distinct alert names: where the category is looked for


class Candidate(msgspec.Struct, frozen=True):  # one per ranked member: a Struct builds 3x cheaper
    score: float
    name: str
    member: Member
    reading: Reading


def _score_unless_symptom(member: Member, reading: Reading | None = None) -> float:
    """Higher is more likely the cause: minutes of earliness, adjusted for layer and severity (a
    symptom scores `SYMPTOM_MINUTES` less). Read once per member (`reading`, when read already)."""
    if member.cause_score is None:
        reading = reading or read(member.labels, member.annotations)
        if reading.category in (Category.SECURITY, Category.HUMAN_ERROR):
            layer_minutes = LAYER_MINUTES["hardware"]
        elif reading.category is Category.CAPACITY and reading.layer == "node":
            layer_minutes = HOST_USAGE_MINUTES
        else:
            layer_minutes = LAYER_MINUTES[reading.layer]
        score = -member.starts_at.timestamp() / 60.0 - layer_minutes
        member.cause_score = score + _severity_minutes(member.labels)
    return member.cause_score


def _severity_minutes(labels: Mapping[str, str]) -> float:
    """The minutes of its severity, read from the first severity label it has (`severity`, else
    `level`, `alert_severity`, Datadog's `alert_type`: those urgency reads)."""
    for name in SEVERITY_LABELS:
        value = labels.get(name)
        if value:
            return SEVERITY_MINUTES.get(value.lower(), 0.0)
    return 0.0


def _best_score(member: Member) -> float:
    """At least its score were it no symptom, without reading it when it was never read."""
    if member.cause_score is not None:
        return member.cause_score
    return -member.starts_at.timestamp() / 60.0 + _severity_minutes(member.labels)


def _at_most(member: Member) -> float:
    """At least its score (its score once read)."""
    score = _best_score(member)
    return score - SYMPTOM_MINUTES if member.why.reason == JoinReason.SYMPTOM else score

def rank(candidates: list[Candidate], member: Member) -> bool:
    """Fold one member into the best `CANDIDATES` (one per alert name), best first. Returns
    whether they changed."""
    name = member.labels.get("alertname", "alert")
    same = next((c for c in candidates if c.name == name), None)
    bar = same.score if same is not None else candidates[-1].score if len(candidates) >= CANDIDATES else None
    if bar is not None and _at_most(member) <= bar:
        return False  # even at the lowest layer it would not be among them: no need to read it
    reading = read(member.labels, member.annotations) if member.cause_score is None else None
    score = _score_unless_symptom(member, reading)
    if member.why.reason == JoinReason.SYMPTOM:
        score -= SYMPTOM_MINUTES
    if bar is not None and score <= bar:
        return False
    if same is not None:
        candidates.remove(same)
    candidates.append(Candidate(score, name, member, reading or read(member.labels, member.annotations)))
    # At one moment, an alert whose words say what failed explains one that only says where ("probe
    # failed" and "probe HTTP failure" of one target fire together).
    candidates.sort(key=lambda c: (-c.score, c.reading.category is None, c.name))
    del candidates[CANDIDATES:]
    return True


def ranked(members: Iterable[Member]) -> list[Candidate]:
    """What folding `members` with `rank` gives, ranking only the members that may score above
    every earlier member of their name: `rank` turns the others away whatever came between (their
    name holds a place scoring at least as much, or lost it to one scoring more), so they change
    nothing."""
    candidates: list[Candidate] = []
    best: dict[str, float] = {}  # per name, the best score of the members ranked so far
    symptom, best_of, lowest = JoinReason.SYMPTOM, best.get, -math.inf
    for member in members:  # `_at_most` inlined: this loop is the cost of ranking a large incident again
        score = member.cause_score
        if score is None:
            score = _best_score(member)
        if member.why.reason == symptom:
            score -= SYMPTOM_MINUTES
        name = member.labels.get("alertname", "alert")
        if score <= best_of(name, lowest):
            continue
        rank(candidates, member)
        if member.cause_score is not None:  # read: its score is known
            best[name] = max(_at_most(member), best.get(name, -math.inf))
    return candidates

def outranked(candidates: list[Candidate], member: Member, as_symptom: bool = False) -> bool:
    """Whether ranking the members again without `member`, or with it a symptom or not, gives the
    same candidates: it is none of them and scores below them even as no symptom (below the
    last of a full ranking, else below its own name's best). `as_symptom`: how it was ranked, where
    only that matters (it left; what it is now, elsewhere, does not).

    Why that suffices: `rank` is a fold, but members scoring below the last of a final full
    ranking never change what the ones above it do (they only ever take a place no member above
    holds, and lose it to them), so the final ranking is theirs alone; below a full ranking,
    every name keeps its first best-scoring member."""
    if any(candidate.member is member for candidate in candidates):
        return False
    if len(candidates) >= CANDIDATES:
        bar = candidates[-1].score
    else:
        name = member.labels.get("alertname", "alert")
        same = next((c for c in candidates if c.name == name), None)
        if same is None:
            return False
        bar = same.score
    penalty = SYMPTOM_MINUTES if as_symptom else 0.0
    return _best_score(member) - penalty < bar or _score_unless_symptom(member) - penalty < bar


def behind(members: Iterable[Member], member: Member) -> bool:
    """Whether an earlier member of its name (in `members`, in order) scores at least what `member`
    may score even as no symptom: `rank` then turns it away whatever its explanation (`ranked`)."""
    name, most = member.labels.get("alertname", "alert"), _best_score(member)
    for other in members:
        if other is member:
            return False
        if other.cause_score is not None and _at_most(other) >= most and other.labels.get("alertname", "alert") == name:
            return True
    return False


def in_causal_order(candidates: Sequence[Candidate], roles: Callable[[Mapping[str, str]], Roles]) -> list[Candidate]:
    """The candidates best first, except that one a relate rule takes for the cause of another
    (and none the reverse) comes before it: the rules say which way a fault spreads where the
    start times and the layers may not (a client's errors fired a moment before the database's
    connections ran out, and both are about the database). Only the rules that name both sides
    say so (`roles`, RuleSet.causal_roles): one whose effect is any alert (a host down explains
    what runs on it), or any but those it excludes, orders nothing, as a noise alert that joined
    beside its cause is no effect of it."""
    read = [(candidate, roles(candidate.member.labels)) for candidate in candidates]
    if all(not causes for _, (causes, _) in read):
        return list(candidates)  # none is a cause of anything: the scores decide (most incidents)
    ordered = []
    while read:
        first = next((entry for entry in read if _explainer(entry, read) is None), read[0])
        ordered.append(first[0])
        read.remove(first)
    return ordered


def explained_by(candidate: Candidate, candidates: Sequence[Candidate],
                 roles: Callable[[Mapping[str, str]], Roles]) -> tuple[str, str] | None:
    """(the alert name, the relate rule) of one of `candidates` that explains `candidate`, as
    `in_causal_order` reads them; None: none does."""
    read = [(other, roles(other.member.labels)) for other in candidates]
    found = _explainer((candidate, roles(candidate.member.labels)), read)
    return (found[0].name, found[1]) if found is not None else None


def _explainer(entry: tuple[Candidate, Roles], read: list[tuple[Candidate, Roles]]) -> tuple[Candidate, str] | None:
    """Another candidate that a relate rule takes for the cause of `entry` (and none the reverse),
    with that rule."""
    effect_causes, effect_effects = entry[1]
    for other, (causes, effects) in read:
        if other is not entry[0] and effect_causes.isdisjoint(effects):
            rules = causes & effect_effects
            if rules:
                return other, min(rules)
    return None
