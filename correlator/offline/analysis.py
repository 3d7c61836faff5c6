"""`correlator analyze`: batch clustering of a recording, and the rules it suggests.

1. Every alert episode of the recording becomes a document: its content tokens plus its topology
   (`cluster=`, `host=`, `namespace=`), TF-IDF weighted over this recording.
2. Episodes are clustered with DBSCAN over a precomputed distance: cosine distance of the
   documents plus the gap between their first sightings as a fraction of `window`. The recording
   is cut into time-ordered chunks of at most `chunk` episodes so the distance matrix stays small
   (pairs across a chunk border are not compared).
3. Alert names that land in the same clusters reliably (support: clusters holding both;
   confidence: the smaller of support / clusters holding each name) become rule proposals:
   a `group` rule when their alerts share label values (group_by those labels), else a `link`
   rule when a label of one equals another label of the other up to a port (instance vs node).
"""

from __future__ import annotations

import itertools
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from sklearn.cluster import DBSCAN
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.metrics.pairwise import cosine_distances

from correlator.domain import Alert
from correlator.ml.features import document, host_of, vectorizer

IGNORED_LABELS = frozenset({"alertname", "severity", "prometheus", "replica", "receiver"})


@dataclass(frozen=True, slots=True)
class Episode:
    first_seen: datetime
    labels: dict[str, str]
    annotations: dict[str, str]

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")


@dataclass
class Proposal:
    kind: str  # group | link
    names: list[str]
    support: int
    confidence: float
    group_by: list[str] = field(default_factory=list)
    source: tuple[str, str] = ("", "")  # link: (alertname, label)
    target: tuple[str, str] = ("", "")


@dataclass
class Analysis:
    episodes: int
    clusters: list[list[Episode]]
    noise: int
    proposals: list[Proposal]


def episodes_of(alerts_in_order: list[tuple[datetime, Alert]]) -> list[Episode]:
    seen: dict[tuple[str, datetime], Episode] = {}
    for at, alert in alerts_in_order:
        key = (alert.fingerprint, alert.starts_at)
        if key not in seen:
            seen[key] = Episode(at, dict(alert.labels), dict(alert.annotations))
    return sorted(seen.values(), key=lambda e: e.first_seen)


def _document(episode: Episode) -> str:
    where = [f"cluster={episode.labels['cluster']}" if episode.labels.get("cluster") else "",
             f"host={host_of(episode.labels)}" if host_of(episode.labels) else "",
             f"namespace={episode.labels.get('cluster', '')}/{episode.labels['namespace']}"
             if episode.labels.get("namespace") else ""]
    return " ".join([document(episode.labels, episode.annotations), *filter(None, where)])


def cluster(episodes: list[Episode], window: float = 900.0, eps: float = 0.6, chunk: int = 2000) -> tuple[
        list[list[Episode]], int]:
    """DBSCAN clusters (with at least two episodes) and the number of episodes left alone."""
    if not episodes:
        return [], 0
    tfidf = TfidfTransformer(sublinear_tf=True).fit_transform(vectorizer().transform(_document(e) for e in episodes))
    times = np.array([e.first_seen.timestamp() for e in episodes])
    clusters, noise = [], 0
    for start in range(0, len(episodes), chunk):
        part = slice(start, start + chunk)
        distance = cosine_distances(tfidf[part]) + np.abs(times[part, None] - times[None, part]) / window
        labels = DBSCAN(eps=eps, min_samples=2, metric="precomputed").fit_predict(distance)
        noise += int((labels == -1).sum())
        members = defaultdict(list)
        for offset, label in enumerate(labels):
            if label >= 0:
                members[label].append(episodes[start + offset])
        clusters.extend(members[label] for label in sorted(members))
    return clusters, noise


def _host_part(value: str) -> str:
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def propose(clusters: list[list[Episode]], min_support: int = 3, min_confidence: float = 0.6) -> list[Proposal]:
    holding = Counter(name for members in clusters for name in {e.name for e in members})
    together: dict[tuple[str, str], list[list[Episode]]] = defaultdict(list)
    for members in clusters:
        for pair in itertools.combinations(sorted({e.name for e in members}), 2):
            together[pair].append(members)
    pairs = []
    for (a, b), shared_clusters in sorted(together.items()):
        support = len(shared_clusters)
        confidence = min(support / holding[a], support / holding[b])
        if support >= min_support and confidence >= min_confidence:
            pairs.append(_pair_proposal(a, b, shared_clusters, support, confidence))
    return _merge_groups([p for p in pairs if p is not None])


def _pair_proposal(a: str, b: str, shared_clusters, support: int, confidence: float) -> Proposal | None:
    same_values: set[str] | None = None
    links: Counter = Counter()
    for members in shared_clusters:
        left = [e.labels for e in members if e.name == a]
        right = [e.labels for e in members if e.name == b]
        equal = {name for x in left for y in right for name in x.keys() & y.keys()
                 if name not in IGNORED_LABELS and x[name] == y[name]}
        same_values = equal if same_values is None else same_values & equal
        links.update({(ln, rn) for x in left for y in right for ln, lv in x.items() for rn, rv in y.items()
                      if ln != rn and ln not in IGNORED_LABELS and rn not in IGNORED_LABELS
                      and _host_part(lv) == _host_part(rv) and lv})
    # A label with one value over all these episodes (the exporter's job, its own instance) would
    # group by nothing: only labels that vary, yet agree within each cluster, say what is shared.
    episodes = [e.labels for members in shared_clusters for e in members if e.name in (a, b)]
    varying = {name for name in (same_values or set()) if len({labels.get(name) for labels in episodes}) > 1}
    if varying - {"cluster"} or "cluster" in (same_values or set()):
        return Proposal("group", [a, b], support, confidence, group_by=sorted(varying | ({"cluster"} & same_values)))
    if links:
        (source_label, target_label), count = links.most_common(1)[0]
        if count == support:
            return Proposal("link", [a, b], support, confidence, source=(a, source_label), target=(b, target_label))
    return None


def _merge_groups(pairs: list[Proposal]) -> list[Proposal]:
    """Pairs proposing a group rule on the same labels become one rule over all their names."""
    merged: dict[tuple[str, ...], Proposal] = {}
    result = []
    for pair in pairs:
        if pair.kind != "group":
            result.append(pair)
            continue
        key = tuple(pair.group_by)
        if key in merged:
            existing = merged[key]
            existing.names = sorted(set(existing.names) | set(pair.names))
            existing.support = min(existing.support, pair.support)
            existing.confidence = min(existing.confidence, pair.confidence)
        else:
            merged[key] = pair
    return [*merged.values(), *result]


def _slug(names: list[str]) -> str:
    return "-".join(re.sub(r"(?<!^)(?=[A-Z])", "-", n).lower() for n in names[:2]) + \
        (f"-and-{len(names) - 2}-more" if len(names) > 2 else "")


def rules_yaml(proposals: list[Proposal], source: str) -> str:
    """The proposals as a rule file `correlator rules check` accepts, each with its evidence."""
    lines = [f"# Proposed by `correlator analyze {source}`: review, rename, and keep what is true.",
             "# Each rule's comment gives its evidence: support (clusters holding its alerts together)",
             "# and confidence (the smaller share of each alert's clusters that hold the other).",
             "version: 1", "rules:" if proposals else "rules: []"]
    for p in proposals:
        names = "|".join(re.escape(n) for n in p.names)
        lines.append(f"  # support {p.support}, confidence {p.confidence:.2f}")
        if p.kind == "group":
            lines += [f"  - name: proposed-{_slug(p.names)}", "    kind: group",
                      f"    matchers: ['alertname=~\"{names}\"']",
                      f"    group_by: [{', '.join(p.group_by)}]", "    window: 30m"]
        else:
            lines += [f"  - name: proposed-link-{_slug(p.names)}", "    kind: link",
                      f"    source_matchers: ['alertname=\"{p.source[0]}\"']",
                      f"    source_label: {p.source[1]}", "    source_regex: '([^:]+)(?::\\d+)?'",
                      f"    target_matchers: ['alertname=\"{p.target[0]}\"']",
                      f"    target_label: {p.target[1]}", "    target_regex: '([^:]+)(?::\\d+)?'",
                      "    window: 30m"]
    return "\n".join(lines) + "\n"


def analyze(alerts_in_order: list[tuple[datetime, Alert]], window: float = 900.0, eps: float = 0.6,
            min_support: int = 3, min_confidence: float = 0.6) -> Analysis:
    episodes = episodes_of(alerts_in_order)
    clusters, noise = cluster(episodes, window, eps)
    return Analysis(len(episodes), clusters, noise, propose(clusters, min_support, min_confidence))
