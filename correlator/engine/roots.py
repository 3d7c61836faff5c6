"""Which member of an incident is its cause (the root alert): the one the category comes from.

A fault propagates upwards and onwards: a disk fails, then the node, then its pods, then the
probes of what they serve. So the root is the earliest-starting member, with a lower layer of the
stack (`lexicon.LAYERS`) and a higher severity counting as an earlier start, and a member that
joined as a symptom of another (suppress rule) counting as a later one. A security detection or
a human error (a certificate left to expire, a manual change) counts as the lowest layer: it explains
what fails around it (a miner burns the CPU, an expired certificate fails handshakes), never the reverse,
though its own rule often fires later. A host's resource running out counts as a layer above the
host: what runs on it, a stuck mount or a miner drive it. Scores are absolute, so
the ranking is kept incrementally: a join compares one member with the few best so far.
"""

from __future__ import annotations

import msgspec

from correlator.engine.model import JoinReason, Member
from correlator.ml.lexicon import Reading, read
from correlator.rules.schema import Category

# Each layer's handicap, as minutes of a later start. The rules of the layers below wait 5-15
# minutes (`for`) before they fire, while a probe sees a fault of what it probes within a minute
# or two: it is a symptom however early it fires. A certificate is checked on a schedule, and what
# fails for it (renewal, then expiry, then handshakes and probes) fails in that order.
LAYER_MINUTES = {"hardware": 0.0, "certificate": 0.0, "node": 5.0, "network": 10.0, "storage": 15.0, "data": 20.0, "application": 25.0,
                 "probe": 45.0, "monitoring": 45.0}
SEVERITY_MINUTES = {"critical": 2.0, "page": 2.0, "error": 1.0, "warning": 0.0, "info": -2.0, "none": -2.0}
_BEST_SEVERITY = max(SEVERITY_MINUTES.values())
SYMPTOM_MINUTES = 10.0  # a suppress rule's target is explained by its source
HOST_USAGE_MINUTES = LAYER_MINUTES["storage"]  # a host's load, memory or disk running out
CANDIDATES = 4  # the best few distinct alert names: where the category is looked for


class Candidate(msgspec.Struct, frozen=True):  # one per ranked member: a Struct builds 3x cheaper
    score: float
    name: str
    member: Member
    reading: Reading


def root_score(member: Member, reading: Reading) -> float:
    """Higher is more likely the cause: minutes of earliness, adjusted for layer, severity and
    being a symptom."""
    if reading.category in (Category.SECURITY, Category.HUMAN_ERROR):
        layer_minutes = LAYER_MINUTES["hardware"]
    elif reading.category is Category.CAPACITY and reading.layer == "node":
        layer_minutes = HOST_USAGE_MINUTES
    else:
        layer_minutes = LAYER_MINUTES[reading.layer]
    score = -member.starts_at.timestamp() / 60.0 - layer_minutes
    score += SEVERITY_MINUTES.get(member.labels.get("severity", "").lower(), 0.0)
    if member.why.reason == JoinReason.SYMPTOM:
        score -= SYMPTOM_MINUTES
    return score


def rank(candidates: list[Candidate], member: Member) -> bool:
    """Fold one member into the best `CANDIDATES` (one per alert name), best first. Returns
    whether they changed."""
    name = member.labels.get("alertname", "alert")
    same = next((c for c in candidates if c.name == name), None)
    bar = same.score if same is not None else candidates[-1].score if len(candidates) >= CANDIDATES else None
    if bar is not None and -member.starts_at.timestamp() / 60.0 + _BEST_SEVERITY <= bar:
        return False  # even at the lowest layer it would not be among them: no need to read it
    reading = read(member.labels, member.annotations)
    score = root_score(member, reading)
    if bar is not None and score <= bar:
        return False
    if same is not None:
        candidates.remove(same)
    candidates.append(Candidate(score, name, member, reading))
    # At one moment, an alert whose words say what failed explains one that only says where ("probe
    # failed" and "probe HTTP failure" of one target fire together).
    candidates.sort(key=lambda c: (-c.score, c.reading.category is None, c.name))
    del candidates[CANDIDATES:]
    return True
