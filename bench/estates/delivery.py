"""How alert episodes reach correlator: the notifications of the recording.

- Alertmanager (kube, awesome, inhouse vocabularies): the estate's group_by, group_wait 30s,
  group_interval 5m, repeat_interval 4h, send_resolved; webhook version 4 with groupKey,
  truncatedAlerts (two estates set max_alerts), common labels. An HA pair: a share of
  notifications arrives twice. A group holds one alert per fingerprint: an alert that clears and
  fires again between two notifications of its group is sent as its latest episode only (the
  earlier one's end never; an episode that began and was replaced in between, not at all).
- Prometheus straight to /api/v2/alerts (one estate's VM alerts): every minute, the firing alerts
  with endsAt four minutes ahead, and resolved ones with their endsAt for 15 minutes.
- The generic endpoint (zabbix, cloud): events, firing then resolved; cloud monitors re-notify
  every 30 minutes while firing.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from correlator.units import rfc3339

from .stream import Episode
from .topology import Estate

GROUP_WAIT, GROUP_INTERVAL, REPEAT_INTERVAL = timedelta(seconds=30), timedelta(minutes=5), timedelta(hours=4)
HA_DUPLICATE_SHARE = 0.35
ZERO_TIME = "0001-01-01T00:00:00Z"
_DIRECT_PROMETHEUS = {"quarry"}  # estates whose VM Prometheus posts straight to correlator
_MAX_ALERTS = {"harbor": 100, "tern": 25}  # webhook max_alerts: the rest of a big group is only counted
_RESEND, _RESOLVED_RESEND = timedelta(minutes=1), timedelta(minutes=15)


@dataclass(frozen=True)
class Notification:
    at: datetime
    source: str  # alertmanager | prometheus | generic | placement (`generate(placements=True)`)
    body: object


def channel(estate: Estate, episode: Episode) -> str:
    if episode.vocabulary in ("zabbix", "cloud"):
        return "generic"
    if estate.name in _DIRECT_PROMETHEUS and not episode.cluster:
        return "prometheus"
    return "alertmanager"


def deliver(r: random.Random, estate: Estate, episodes: list[Episode], end: datetime) -> list[Notification]:
    """The notifications by receive time. Every episode starting a minute before `end` is carried."""
    by_channel = defaultdict(list)
    for episode in episodes:
        by_channel[channel(estate, episode)].append(episode)
    notifications = [*_alertmanager(r, estate, by_channel["alertmanager"], end),
                     *_prometheus(by_channel["prometheus"], end), *_generic(r, by_channel["generic"], end)]
    notifications.sort(key=lambda n: n.at)
    return notifications


def _alert(episode: Episode, now: datetime, webhook: bool) -> dict:
    resolved = episode.end is not None and episode.end <= now
    alert = {"labels": episode.labels, "annotations": episode.annotations, "startsAt": rfc3339(episode.start),
             "endsAt": rfc3339(episode.end) if resolved else ZERO_TIME,
             "generatorURL": f"http://prometheus-0:9090/graph?g0.expr={episode.labels['alertname']}"}
    if webhook:
        alert = {"status": "resolved" if resolved else "firing", **alert, "fingerprint": episode.fingerprint}
    return alert


def _alertmanager(r: random.Random, estate: Estate, episodes: list[Episode], end: datetime) -> list[Notification]:
    groups = defaultdict(list)
    for episode in episodes:
        groups[tuple(episode.labels.get(name, "") for name in estate.group_by)].append(episode)
    notifications = []
    for key, members in groups.items():
        members.sort(key=lambda e: e.start)
        index, pending, notified, last_sent = 0, [], {}, None
        flush = members[0].start + GROUP_WAIT
        while flush < end:
            while index < len(members) and members[index].start <= flush:
                pending.append(members[index])
                index += 1
            # The group holds one alert per fingerprint: an alert that cleared and fired again
            # since the last notification is sent as its new episode alone, the end of the one
            # before never (Alertmanager's dispatcher replaces it in the aggregation group).
            pending = list({e.fingerprint: e for e in pending}.values())
            firing = [e for e in pending if e.end is None or e.end > flush]
            resolved = [e for e in pending if e.end is not None and e.end <= flush]
            state = {(e.fingerprint, e.start): e in resolved for e in pending}
            if state != notified or (last_sent and flush - last_sent >= REPEAT_INTERVAL):
                notifications += _webhook(r, estate, key, firing, resolved, flush)
                notified, last_sent = state, flush
            pending = firing
            if not firing:  # the group is gone; the next alert of this key starts a new one
                notified = {}
                if index == len(members):
                    break
                flush = members[index].start + GROUP_WAIT
                continue
            flush += GROUP_INTERVAL
    return notifications


def _webhook(r: random.Random, estate: Estate, key: tuple, firing: list[Episode], resolved: list[Episode],
             at: datetime) -> list[Notification]:
    alerts = [_alert(e, at, webhook=True) for e in firing + resolved]
    limit = _MAX_ALERTS.get(estate.name, len(alerts))
    group_labels = {name: value for name, value in zip(estate.group_by, key) if value}
    common = dict(sorted(set.intersection(*(set(e.labels.items()) for e in firing + resolved))))
    common_annotations = dict(sorted(set.intersection(*(set(e.annotations.items()) for e in firing + resolved))))
    body = {"receiver": "correlator", "status": "firing" if firing else "resolved", "alerts": alerts[:limit],
            "groupLabels": group_labels, "commonLabels": common, "commonAnnotations": common_annotations,
            "externalURL": f"https://alertmanager.{estate.domain}", "version": "4",
            "groupKey": "{}/{}:{" + ", ".join(f'{k}="{v}"' for k, v in group_labels.items()) + "}",
            "truncatedAlerts": max(0, len(alerts) - limit)}
    sent = at + timedelta(milliseconds=r.randint(5, 400))
    notifications = [Notification(sent, "alertmanager", body)]
    if r.random() < HA_DUPLICATE_SHARE:  # the peer did not see the notification log entry in time
        notifications.append(Notification(sent + timedelta(seconds=r.uniform(1, 15)), "alertmanager", body))
    return notifications


def _prometheus(episodes: list[Episode], end: datetime) -> list[Notification]:
    if not episodes:
        return []
    notifications, at = [], min(e.start for e in episodes)
    ordered, index, active = sorted(episodes, key=lambda e: e.start), 0, []
    while at < end:
        while index < len(ordered) and ordered[index].start <= at:
            active.append(ordered[index])
            index += 1
        active = [e for e in active if e.end is None or e.end + _RESOLVED_RESEND > at]
        if active:
            body = []
            for e in active:
                alert = _alert(e, at, webhook=False)
                if alert["endsAt"] == ZERO_TIME:
                    alert["endsAt"] = rfc3339(at + 4 * _RESEND)
                body.append(alert)
            notifications.append(Notification(at, "prometheus", body))
        elif index < len(ordered):
            at = max(at, ordered[index].start)
            continue
        else:
            break
        at += _RESEND
    return notifications


def _generic(r: random.Random, episodes: list[Episode], end: datetime) -> list[Notification]:
    notifications = []
    for e in episodes:
        item = {"labels": e.labels, "annotations": e.annotations, "startsAt": rfc3339(e.start)}
        renotify = timedelta(minutes=30) if e.vocabulary == "cloud" else None
        at = e.start
        while at < end and (e.end is None or at < e.end):
            notifications.append(Notification(at + timedelta(seconds=r.uniform(1, 20)), "generic",
                                              {"alerts": [{**item, "status": "firing"}]}))
            if renotify is None:
                break
            at += renotify
        if e.end is not None and e.end < end:
            notifications.append(Notification(e.end + timedelta(seconds=r.uniform(1, 20)), "generic", {
                "alerts": [{**item, "status": "resolved", "endsAt": rfc3339(e.end)}]}))
    return notifications
