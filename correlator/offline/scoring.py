"""Scores a grouping of alert episodes against labeled truth: `correlator replay REC --truth LABELS`.

Pure functions over plain values; nothing here imports the engine. docs/quality.md defines the
truth file and every figure. In short, per alert episode (fingerprint, startsAt):

- pairwise precision / recall / F1 over the pairs of episodes placed in one incident;
- BCubed precision / recall / F1: per episode, the share of its predicted incident that truly
  belongs with it, and the share of its true incident that was placed with it, averaged;
- the same for two references measured on the same episodes: every episode alone, and the groups
  Alertmanager's group_by [alertname, cluster] makes (one group per key while any of it fires);
- category accuracy and priority within one level: the predicted incident's value against the
  episode's true value; and all of it per vocabulary when the truth names one;
- the pairs each kind of join made (reason and rule), right and wrong, and the true pairs lost
  because an episode stayed alone: which rule to fix;
- of the wrong pairs, those Alertmanager's group_by put in one group as well (by default one alert
  name in one cluster while that group fired): what the key's labels cannot tell apart.

Pair counts come from the contingency table (true incident x predicted incident), so scoring
is linear in the number of episodes.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Hashable, Iterable, Sequence

import msgspec

from correlator.domain import Category, ServiceArea

Episode = tuple[str, datetime]  # (fingerprint, startsAt)
PRIORITY_LEVELS = {f"P{n}": n for n in range(1, 6)}


class TruthLine(msgspec.Struct, forbid_unknown_fields=False):
    """One line of a truth file. Without `starts_at`, it labels every episode of the fingerprint.
    `incident: null` leaves the episode out of every figure (a heartbeat, an alert not labeled)."""

    fingerprint: str
    incident: str | None
    starts_at: datetime | None = None
    category: Category | None = None  # a value correlator classifies by: a misspelt one is refused, not scored wrong
    priority: str | None = None
    service_area: ServiceArea | None = None
    vocabulary: str | None = None
    root_cause: bool | None = None


class TruthError(Exception):
    def __init__(self, number: int, reason: str):
        super().__init__(f"line {number}: {reason}")
        self.number, self.reason = number, reason


@dataclass
class Truth:
    episodes: dict[Episode, TruthLine] = field(default_factory=dict)
    fingerprints: dict[str, TruthLine] = field(default_factory=dict)  # lines without starts_at

    def label(self, episode: Episode) -> TruthLine | None:
        return self.episodes.get(episode) or self.fingerprints.get(episode[0])


_truth_decoder = msgspec.json.Decoder(TruthLine)


def read_truth(path: Path) -> Truth:
    truth = Truth()
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                label = _truth_decoder.decode(line)
            except (msgspec.ValidationError, msgspec.DecodeError) as error:
                raise TruthError(number, f"not a truth line: {error}") from None
            if label.priority is not None and label.priority not in PRIORITY_LEVELS:
                raise TruthError(number, f"priority {label.priority!r} is not one of P1..P5")
            if label.starts_at is None:
                truth.fingerprints[label.fingerprint] = label
            else:
                truth.episodes[(label.fingerprint, utc(label.starts_at))] = label
    return truth


def utc(moment: datetime) -> datetime:
    """Timestamps without an offset are UTC, as everywhere in correlator."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


@dataclass(frozen=True)
class Placed:
    """An episode as the engine placed it: the incident and that incident's classification, and
    (when the output says) the order it joined in and the join's reason and rule."""

    incident: str
    category: str | None
    priority: str | None
    order: int = 0  # its place in the incident's join order
    reason: str = ""
    rule: str = ""


@dataclass(frozen=True)
class Span:
    """An episode's group key for the Alertmanager reference and the time it fired (ends_at None:
    still firing at the end of the recording)."""

    episode: Episode
    key: tuple[str, ...]
    starts_at: datetime
    ends_at: datetime | None


class _ReplayLine(msgspec.Struct):
    id: str
    episodes: list[list[str]]  # [fingerprint, startsAt] or [fingerprint, startsAt, joinedAt, reason, rule]
    category: str | None = None
    priority: str | None = None


def read_placements(path: Path) -> dict[Episode, Placed]:
    """The episodes of a replay output file (its `episodes` field, in join order) and where they
    were placed."""
    decoder = msgspec.json.Decoder(_ReplayLine)
    placed = {}
    with path.open("rb") as lines:
        for line in lines:
            if line.strip():
                incident = decoder.decode(line)
                for order, (fingerprint, starts_at, *join) in enumerate(incident.episodes):
                    reason, rule = join[1:3] if len(join) >= 3 else ("", "")
                    placed[(fingerprint, utc(datetime.fromisoformat(starts_at)))] = Placed(
                        incident.id, incident.category, incident.priority, order, reason, rule)
    return placed


@dataclass(frozen=True)
class Agreement:
    """How one partition of the episodes agrees with the true incidents."""

    episodes: int
    incidents: int
    true_incidents: int
    pair_precision: float
    pair_recall: float
    pair_f1: float
    bcubed_precision: float
    bcubed_recall: float
    bcubed_f1: float


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def pair_count(count: int) -> int:
    """The pairs `count` episodes make."""
    return count * (count - 1) // 2


def agreement(true_ids: Sequence[Hashable], predicted_ids: Sequence[Hashable]) -> Agreement:
    """Pairwise and BCubed figures of a predicted partition, both given as one id per episode.
    With no pair to judge, pairwise precision (recall) is 1.0 when no pair was predicted (is true)."""
    cells = Counter(zip(true_ids, predicted_ids))
    true_sizes, predicted_sizes = Counter(true_ids), Counter(predicted_ids)
    together = sum(pair_count(n) for n in cells.values())
    predicted_pairs = sum(pair_count(n) for n in predicted_sizes.values())
    true_pairs = sum(pair_count(n) for n in true_sizes.values())
    pair_precision = together / predicted_pairs if predicted_pairs else 1.0
    pair_recall = together / true_pairs if true_pairs else 1.0
    total = len(true_ids)
    # Each episode of cell (t, p) shares n(t, p) episodes with its predicted and its true incident.
    bcubed_precision = sum(n * n / predicted_sizes[p] for (_, p), n in cells.items()) / total if total else 1.0
    bcubed_recall = sum(n * n / true_sizes[t] for (t, _), n in cells.items()) / total if total else 1.0
    return Agreement(total, len(predicted_sizes), len(true_sizes), pair_precision, pair_recall,
                     _f1(pair_precision, pair_recall) if predicted_pairs or true_pairs else 1.0,
                     bcubed_precision, bcubed_recall, _f1(bcubed_precision, bcubed_recall))


def alertmanager_groups(spans: Iterable[Span]) -> dict[Episode, tuple]:
    """The group each episode would land in under Alertmanager's group_by: one group per key from
    its first alert until none of its alerts fires, then a new group when one fires again."""
    by_key: dict[tuple, list[Span]] = defaultdict(list)
    for span in spans:
        by_key[span.key].append(span)
    groups = {}
    for key, members in by_key.items():
        members.sort(key=lambda s: s.starts_at)
        number, fires_until = -1, None
        for span in members:
            if number < 0 or (fires_until is not None and span.starts_at > fires_until):
                number, fires_until = number + 1, span.ends_at
            elif fires_until is not None:
                fires_until = None if span.ends_at is None else max(fires_until, span.ends_at)
            groups[span.episode] = (*key, number)
    return groups


@dataclass(frozen=True)
class JoinPairs:
    """The pairs of labeled episodes one kind of join placed together: each episode is paired with
    the episodes that had joined its incident before it."""

    reason: str
    rule: str
    right: int  # truly one incident
    wrong: int


def pairs_by_join(scored: Sequence[tuple[Placed, str]]) -> list[JoinPairs]:
    """`scored`: each labeled episode's placement and true incident. Most wrong pairs first."""
    right: Counter = Counter()
    wrong: Counter = Counter()
    by_incident: dict[str, list[tuple[Placed, str]]] = defaultdict(list)
    for placed, true_id in scored:
        by_incident[placed.incident].append((placed, true_id))
    for members in by_incident.values():
        members.sort(key=lambda member: member[0].order)
        seen: Counter = Counter()
        for number, (placed, true_id) in enumerate(members):
            join = (placed.reason, placed.rule)
            right[join] += seen[true_id]
            wrong[join] += number - seen[true_id]
            seen[true_id] += 1
    joins = [JoinPairs(reason, rule, right[reason, rule], wrong[reason, rule]) for reason, rule in right]
    return sorted((j for j in joins if j.right or j.wrong), key=lambda j: (-j.wrong, -j.right, j.reason, j.rule))


def wrong_pairs_in_one_group(true_ids: Sequence[Hashable], predicted_ids: Sequence[Hashable],
                             groups: Sequence[Hashable]) -> int:
    """Pairs placed together that are truly apart and that share one of `groups` (one id per episode)
    as well."""
    together = Counter(zip(predicted_ids, groups))
    right = Counter(zip(predicted_ids, groups, true_ids))
    return sum(pair_count(n) for n in together.values()) - sum(pair_count(n) for n in right.values())


def pairs_lost_alone(true_ids: Sequence[Hashable], predicted_ids: Sequence[Hashable]) -> int:
    """True pairs placed apart because one of the two episodes is alone in its incident."""
    predicted_sizes = Counter(predicted_ids)
    alone, sizes = Counter(), Counter(true_ids)
    for true_id, predicted_id in zip(true_ids, predicted_ids):
        alone[true_id] += predicted_sizes[predicted_id] == 1
    return sum(pair_count(sizes[t]) - pair_count(sizes[t] - alone[t]) for t in alone)


@dataclass
class Classification:
    category_accuracy: float | None
    category_episodes: int
    priority_within_one: float | None
    priority_episodes: int


def classification(labels: Sequence[TruthLine], placements: Sequence[Placed]) -> Classification:
    categories = [label.category == placed.category for label, placed in zip(labels, placements) if label.category]
    priorities = [placed.priority in PRIORITY_LEVELS
                  and abs(PRIORITY_LEVELS[label.priority] - PRIORITY_LEVELS[placed.priority]) <= 1
                  for label, placed in zip(labels, placements) if label.priority]
    return Classification(sum(categories) / len(categories) if categories else None, len(categories),
                          sum(priorities) / len(priorities) if priorities else None, len(priorities))


@dataclass
class Score:
    """Every figure of one grouping against its truth (docs/quality.md)."""

    grouping: Agreement
    alone: Agreement
    alertmanager: Agreement | None
    classification: Classification
    by_vocabulary: dict[str, tuple[Agreement, Classification]]
    missing: int  # labeled episodes (with starts_at) that no incident holds: not scored
    unlabeled: int  # placed episodes the truth does not label: not scored
    by_join: list[JoinPairs] = field(default_factory=list)
    lost_alone: int = 0  # true pairs placed apart because one episode is alone in its incident
    wrong_pairs: int = 0  # pairs placed together that are truly apart
    # ...of which Alertmanager's group_by put in one group too (None without the reference)
    wrong_in_alertmanager_group: int | None = None


def score(placements: dict[Episode, Placed], truth: Truth, spans: Iterable[Span] | None = None) -> Score:
    """Scores the labeled episodes the grouping placed. `spans` (of the placed episodes) give the
    Alertmanager reference; without them it is left out."""
    scored = [(episode, label) for episode in placements
              if (label := truth.label(episode)) is not None and label.incident is not None]
    placed = [placements[episode] for episode, _ in scored]
    labels = [label for _, label in scored]
    true_ids = [label.incident for label in labels]
    predicted_ids = [p.incident for p in placed]
    reference = wrong_in_group = None
    if spans is not None:
        groups = alertmanager_groups(spans)
        grouped = [groups.get(episode, episode) for episode, _ in scored]
        reference = agreement(true_ids, grouped)
        wrong_in_group = wrong_pairs_in_one_group(true_ids, predicted_ids, grouped)
    by_vocabulary = {}
    for vocabulary in sorted({label.vocabulary for label in labels if label.vocabulary}):
        chosen = [i for i, label in enumerate(labels) if label.vocabulary == vocabulary]
        by_vocabulary[vocabulary] = (
            agreement([true_ids[i] for i in chosen], [placed[i].incident for i in chosen]),
            classification([labels[i] for i in chosen], [placed[i] for i in chosen]))
    return Score(
        grouping=agreement(true_ids, predicted_ids),
        alone=agreement(true_ids, range(len(true_ids))),
        alertmanager=reference,
        classification=classification(labels, placed),
        by_vocabulary=by_vocabulary,
        missing=sum(1 for episode, label in truth.episodes.items()
                    if label.incident is not None and episode not in placements),
        unlabeled=sum(1 for episode in placements if truth.label(episode) is None),
        by_join=pairs_by_join(list(zip(placed, true_ids))) if any(p.reason for p in placed) else [],
        lost_alone=pairs_lost_alone(true_ids, predicted_ids),
        wrong_pairs=wrong_pairs_in_one_group(true_ids, predicted_ids, [0] * len(true_ids)),  # one group: all
        wrong_in_alertmanager_group=wrong_in_group,
    )


def as_dict(result: Score) -> dict:
    """The score as plain JSON values (`replay --truth --json`)."""
    return msgspec.to_builtins(result)


def _row(name: str, a: Agreement) -> str:
    return (f"{name:<22} {a.episodes:>7} {a.incidents:>7} {a.pair_precision:>6.3f} {a.pair_recall:>6.3f} "
            f"{a.pair_f1:>6.3f} {a.bcubed_precision:>6.3f} {a.bcubed_recall:>6.3f} {a.bcubed_f1:>6.3f}")


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def format_score(result: Score) -> str:
    """A table for people: the grouping with its two references, then classification."""
    lines = [f"{'partition':<22} {'episodes':>7} {'groups':>7} {'pair P':>6} {'pair R':>6} {'pairF1':>6} "
             f"{'B3 P':>6} {'B3 R':>6} {'B3 F1':>6}",
             _row("correlator", result.grouping), _row("every alert alone", result.alone)]
    if result.alertmanager is not None:
        lines.append(_row("alertmanager group_by", result.alertmanager))
    lines.append(f"{result.grouping.true_incidents} true incidents; {result.missing} labeled episodes not in any "
                 f"incident, {result.unlabeled} episodes without a label (neither is scored)")
    if result.wrong_in_alertmanager_group is not None:
        lines.append(f"{result.wrong_pairs} pairs placed together wrongly, {result.wrong_in_alertmanager_group} of them "
                     f"in one alertmanager group_by group as well (its key's labels alike, while that group fired)")
    c = result.classification
    lines.append(f"category accuracy {_ratio(c.category_accuracy)} ({c.category_episodes} episodes), "
                 f"priority within one level {_ratio(c.priority_within_one)} ({c.priority_episodes} episodes)")
    if result.by_join:
        lines.append(f"pairs placed together, by the join that placed the later episode "
                     f"({result.lost_alone} true pairs lost to an episode left alone):")
        lines.append(f"{'join':<12} {'rule':<52} {'right':>7} {'wrong':>7}")
        lines.extend(f"{j.reason:<12} {j.rule[:52]:<52} {j.right:>7} {j.wrong:>7}" for j in result.by_join)
    if result.by_vocabulary:
        lines.append(f"{'vocabulary':<22} {'episodes':>7} {'pairF1':>6} {'B3 F1':>6} {'cat':>6} {'prio±1':>6}")
        for vocabulary, (a, c) in result.by_vocabulary.items():
            lines.append(f"{vocabulary:<22} {a.episodes:>7} {a.pair_f1:>6.3f} {a.bcubed_f1:>6.3f} "
                         f"{_ratio(c.category_accuracy):>6} {_ratio(c.priority_within_one):>6}")
    return "\n".join(lines)
