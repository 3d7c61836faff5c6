"""Online clustering: which recent open incident an alert no rule placed belongs to, if any.

Candidates come from indexes (same host, namespace, service, alert name or cluster), each keeping
only its most recent incidents, within a time horizon: the cost per alert is bounded by
`len(keys) * PER_KEY`, never by the number of open incidents. Each candidate is scored by the
learned pair scorer; the best one at or above the threshold wins.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable, Iterator, Mapping

from correlator.ml.features import ContentWeights, Topology, name_words, topology

HORIZON = timedelta(hours=1)  # default: incidents quiet for longer are no longer candidates
PER_KEY = 6  # most recent incidents kept per index key
BURST_SECONDS = 300.0  # the time scale of "at once" for the same alert on several machines
CENTROID_MEMBERS = 32  # an incident's content is the mean of its first members: a bounded cost


@dataclass(frozen=True, slots=True)
class ClusterDecision:
    incident_id: str
    score: float
    top_features: tuple[tuple[str, float], ...]  # the largest contributions to the score's log-odds

    @property
    def detail(self) -> str:
        weighed = ", ".join(f"{name} {contribution:+.2f}" for name, contribution in self.top_features)
        return f"score {self.score:.2f} with {self.incident_id}; weighed most: {weighed}"


@dataclass(slots=True)
class _Profile:
    """What an incident looks like to the clusterer."""

    centroid: dict[int, float] = field(default_factory=dict)
    norm: float = 0.0
    members: int = 0
    hosts: set[str] = field(default_factory=set)
    namespaces: set[tuple[str, str]] = field(default_factory=set)
    services: set[str] = field(default_factory=set)
    clusters: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)
    words: set[str] = field(default_factory=set)  # the words of its alert names
    last_at: datetime | None = None
    keys: set[tuple] = field(default_factory=set)


def _keys(where: Topology, alertname: str) -> list[tuple]:
    keys = [("cluster", where.cluster), ("alertname", where.cluster, alertname)]
    if where.host:
        keys.append(("host", where.host))
    if where.namespace:
        keys.append(("namespace", where.cluster, where.namespace))
    if where.service:
        keys.append(("service", where.service))
    return keys


class OnlineClusterer:
    def __init__(self, weights: ContentWeights, score: Callable[..., tuple[float, list]] | None,
                 threshold: float, horizon: timedelta, associations: Mapping[str, Mapping[str, float]] | None = None):
        """`score(pair features, explain=False) -> (probability, contributions)` is the learned pair scorer
        (`LearnedModel.pair_probability`; training collects candidates without one)."""
        self.weights = weights
        self.score = score
        self.threshold = threshold
        self.horizon = horizon
        self.associations = associations or {}
        self._profiles: dict[str, _Profile] = {}
        self._index: dict[tuple, list[str]] = {}

    def observe(self, incident_id: str, labels: Mapping[str, str], annotations: Mapping[str, str],
                services: tuple[str, ...], at: datetime) -> None:
        """An alert joined `incident_id` (by a rule or by the clusterer)."""
        profile = self._profiles.get(incident_id)
        if profile is None:
            profile = self._profiles[incident_id] = _Profile()
        where = topology(labels, services)
        alertname = labels.get("alertname", "")
        profile.members += 1
        profile.last_at = at if profile.last_at is None else max(profile.last_at, at)
        if profile.members <= CENTROID_MEMBERS:
            for bucket, weight in self.weights.vector(labels, annotations).items():
                profile.centroid[bucket] = profile.centroid.get(bucket, 0.0) + weight
            profile.norm = math.sqrt(sum(w * w for w in profile.centroid.values()))
            if where.host:
                profile.hosts.add(where.host)
            if where.namespace:
                profile.namespaces.add((where.cluster, where.namespace))
            profile.services.update(services or (where.service,))
            profile.clusters.add(where.cluster)
            profile.names.add(alertname)
            profile.words.update(name_words(alertname))
        for key in _keys(where, alertname):
            recent = self._index.setdefault(key, [])
            if incident_id in recent:
                recent.remove(incident_id)
            recent.append(incident_id)
            profile.keys.add(key)
            if len(recent) > PER_KEY:
                dropped = recent.pop(0)
                if dropped in self._profiles:
                    self._profiles[dropped].keys.discard(key)

    def words_of(self, incident_id: str) -> set[str]:
        return self._profiles[incident_id].words

    def association(self, words, incident_words) -> float:
        """The strongest association between a word of the alert's name and one of the incident's."""
        found = [value for w in words if (row := self.associations.get(w)) is not None
                 for v in incident_words if (value := row.get(v)) is not None]
        return max(found, default=0.0)

    def forget(self, incident_id: str) -> None:
        profile = self._profiles.pop(incident_id, None)
        for key in profile.keys if profile else ():
            recent = self._index.get(key)
            if recent is not None and incident_id in recent:
                recent.remove(incident_id)
                if not recent:
                    del self._index[key]

    def best(self, labels: Mapping[str, str], annotations: Mapping[str, str], services: tuple[str, ...],
             now: datetime, is_open: Callable[[str], bool]) -> ClusterDecision | None:
        """The incident this alert most likely belongs to, if the pair scorer is sure enough."""
        best: tuple[float, str, tuple[float, ...]] | None = None
        for incident_id, features in self.candidates(labels, annotations, services, now, is_open):
            score, _ = self.score(features)
            if score >= self.threshold and (best is None or score > best[0]):
                best = score, incident_id, features
        if best is None:
            return None
        score, incident_id, features = best
        top = sorted(self.score(features, True)[1], key=lambda item: -item[1])[:3]
        return ClusterDecision(incident_id, score, tuple((name, round(c, 2)) for name, c in top))

    def candidates(self, labels: Mapping[str, str], annotations: Mapping[str, str], services: tuple[str, ...],
                   now: datetime, is_open: Callable[[str], bool]) -> Iterator[tuple[str, tuple[float, ...]]]:
        """(incident, pair features) of each recent open incident the indexes offer."""
        where = topology(labels, services)
        alertname = labels.get("alertname", "")
        candidates = dict.fromkeys(incident_id for key in _keys(where, alertname)
                                   for incident_id in self._index.get(key, ()))
        vector = self.weights.vector(labels, annotations) if candidates else {}
        for incident_id in candidates:
            profile = self._profiles[incident_id]
            if now - profile.last_at <= self.horizon and is_open(incident_id):
                yield incident_id, self._pair_features(vector, where, alertname, services, profile, now)

    def _pair_features(self, vector: dict[int, float], where: Topology, alertname: str, services: tuple[str, ...],
                       profile: _Profile, now: datetime) -> tuple[float, ...]:
        centroid = profile.centroid
        content = sum(weight * centroid.get(bucket, 0.0) for bucket, weight in vector.items()) / (profile.norm or 1.0)
        own = services or (where.service,)
        return pair_features(
            content=content,
            same_host=bool(where.host) and where.host in profile.hosts,
            other_host=bool(where.host) and bool(profile.hosts) and where.host not in profile.hosts,
            same_namespace=bool(where.namespace) and (where.cluster, where.namespace) in profile.namespaces,
            other_namespace=bool(where.namespace) and bool(profile.namespaces)
            and (where.cluster, where.namespace) not in profile.namespaces,
            same_service=any(s and s in profile.services for s in own),
            same_cluster=where.cluster in profile.clusters,
            same_alertname=alertname in profile.names,
            name_association=self.association(name_words(alertname), profile.words),
            seconds_apart=max((now - profile.last_at).total_seconds(), 0.0),
            members=profile.members)


def pair_features(*, content: float, same_host: bool, other_host: bool, same_namespace: bool,
                  other_namespace: bool, same_service: bool, same_cluster: bool, same_alertname: bool,
                  name_association: float, seconds_apart: float, members: int) -> tuple[float, ...]:
    """The vector the pair scorer reads, in `PAIR_FEATURES` order."""
    return (content, float(same_host), float(other_host), float(same_namespace), float(other_namespace),
            float(same_service), float(same_cluster), float(same_alertname),
            float(same_alertname) * math.exp(-seconds_apart / BURST_SECONDS), name_association,
            math.log1p(seconds_apart / 60.0), math.log1p(members))
