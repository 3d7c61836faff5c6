"""Members leaving an incident are withdrawn from its aggregates (engine/derivation.py `withdraw`)
instead of folding every member again: the result must be what that fold gives, whichever members
leave and whatever their labels, severities, start times and explanations."""

import random
from datetime import datetime, timedelta, timezone

from correlator.domain import AlertStatus, Explanation, JoinReason, Member
from correlator.engine.derivation import Facts, absorb, withdraw
from correlator.engine.roots import ranked
from correlator.ingest.fingerprint import fingerprint
from correlator.rules.loader import load_rules
from correlator.shipped import shipped_dir

T0 = datetime(2026, 12, 1, tzinfo=timezone.utc)
NAMES = ["KubePodCrashLooping", "NodeFilesystemSpaceFillingUp", "TargetDown", "ProbeFailed", "HostHighCpuLoad",
         "PostgresqlDown", "CertificateExpiring"]


def _member(rng: random.Random, number: int) -> Member:
    labels = {"alertname": rng.choice(NAMES), "severity": rng.choice(["critical", "warning", "info"]),
              "cluster": rng.choice(["prod-eu", "stg-us"])}
    kind = rng.random()
    if kind < 0.4:
        labels |= {"namespace": rng.choice(["db", "web"]), "pod": f"api-{rng.randrange(8)}"}
    elif kind < 0.8:
        labels |= {"instance": f"node-{rng.randrange(6)}:9100", "job": "node-exporter"}
    else:
        labels |= {"instance": f"https://svc-{rng.randrange(4)}.example", "job": "blackbox"}
    if rng.random() < 0.3:
        labels["team"] = rng.choice(["dba", "web"])
    why = Explanation(rng.choice([JoinReason.SYMPTOM, JoinReason.GROUP, JoinReason.RELATED]), "r")
    starts = T0 + timedelta(seconds=rng.choice([0, 60, 120, 600]) + rng.randrange(3) * 60)
    return Member(fingerprint(labels), starts, labels, {"summary": labels["alertname"]}, AlertStatus.FIRING, None, starts,
                  why, ())


def _view(facts: Facts) -> tuple:
    """What the incident's derived fields are computed from (sets counted up to a limit: their size)."""
    radius = facts.radius
    return (list(facts.common.items()), sorted(facts.names.items()), sorted(facts.fingerprints.items()),
            list(facts.services), [len(radius.hosts), len(radius.services), len(radius.pods), len(radius.targets)],
            sorted(radius.environments), sorted((n, len(h)) for n, h in facts.hosts_by_name.items() if h),
            [(c.score, c.name, id(c.member)) for c in facts.roots], facts.urgency, facts.assignment,
            sorted(facts.escalations), list(facts.documents.items()))


def _folded(rules, members: dict) -> Facts:
    facts = Facts()
    for member in members.values():
        absorb(rules, facts, member)
    return facts


def test_withdrawing_departed_members_gives_what_folding_the_members_left_gives():
    rules = load_rules(shipped_dir("rules"))
    rng = random.Random(12)
    withdrawn = 0
    for _ in range(400):
        members = {}
        for number in range(rng.randrange(2, 30)):
            member = _member(rng, number)
            members[(member.fingerprint, member.starts_at)] = member
        facts = _folded(rules, members)
        for key in rng.sample(list(members), rng.randrange(1, len(members))):
            member = members.pop(key)
            facts.departed.append((key, member, member.why.reason is JoinReason.SYMPTOM))
            if rng.random() < 0.5:  # it leaves explained anew (a symptom released, or one taken by a source)
                member.why = Explanation(JoinReason.RELATED if member.why.reason is JoinReason.SYMPTOM
                                         else JoinReason.SYMPTOM, "r")
        if withdraw(rules, facts, members):
            withdrawn += 1
            assert _view(facts) == _view(_folded(rules, members))
    assert withdrawn > 300  # most departures are withdrawn, not folded again


def test_ranking_again_skips_only_members_that_change_nothing():
    rules = load_rules(shipped_dir("rules"))
    rng = random.Random(3)
    for _ in range(300):
        members = [_member(rng, number) for number in range(rng.randrange(1, 40))]
        assert [(c.score, c.name, id(c.member)) for c in ranked(members)] == \
            [(c.score, c.name, id(c.member)) for c in _folded(rules, dict(enumerate(members))).roots]
