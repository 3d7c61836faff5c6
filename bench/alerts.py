"""Synthetic alert estates for the memory benchmark: distinct firing alerts with label sets shaped
like kube-prometheus's (node-exporter and kube-state-metrics alerts, 8-12 labels each), 40 alert
names over many instances, as Alertmanager webhook bodies.

Their starts are spread evenly over the hours before the run, one target after another (each
target's 40 alerts start within seconds: one fault of that machine). Starting them all at one
moment would make the stream 40 same-name storms of thousands of alerts each, which the engine
rightly joins into a handful of incidents: a storm, not an estate with that many active alerts."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from correlator.ingest.fingerprint import fingerprint

NODE_ALERTS = ["NodeFilesystemSpaceFillingUp", "NodeFilesystemAlmostOutOfSpace", "NodeFilesystemFilesFillingUp",
               "NodeMemoryHighUtilization", "NodeMemoryMajorPagesFaults", "NodeNetworkReceiveErrs",
               "NodeNetworkTransmitErrs", "NodeHighNumberConntrackEntriesUsed", "NodeClockSkewDetected",
               "NodeClockNotSynchronising", "NodeDiskIOSaturation", "NodeSystemSaturation",
               "NodeCPUHighUsage", "NodeRAIDDegraded", "NodeTextFileCollectorScrapeError",
               "NodeFileDescriptorLimit", "NodeSystemdServiceFailed", "NodeBondingDegraded",
               "NodeNetworkInterfaceFlapping", "NodeHighLoadAverage"]
KUBE_ALERTS = ["KubePodCrashLooping", "KubePodNotReady", "KubeDeploymentReplicasMismatch",
               "KubeDeploymentRolloutStuck", "KubeStatefulSetReplicasMismatch", "KubeDaemonSetRolloutStuck",
               "KubeContainerWaiting", "KubeJobFailed", "KubeJobNotCompleted", "KubeHpaMaxedOut",
               "KubeHpaReplicasMismatch", "KubePersistentVolumeFillingUp", "KubePersistentVolumeErrors",
               "CPUThrottlingHigh", "KubeQuotaAlmostFull", "KubeMemoryOvercommit", "KubeletTooManyPods",
               "KubeNodeNotReady", "KubeNodeUnreachable", "KubeAPIErrorBudgetBurn"]
ALERTNAMES = NODE_ALERTS + KUBE_ALERTS  # 40 names
SPREAD = timedelta(hours=20)  # the starts of all the alerts of a run: within a day of receipt, as live ones


def labels_of(number: int) -> dict[str, str]:
    """The label set of alert `number`: distinct for every number (name = number mod 40, target =
    number div 40)."""
    name = ALERTNAMES[number % len(ALERTNAMES)]
    target = number // len(ALERTNAMES)
    cluster = f"prod-{target % 4}"
    severity = ("warning", "critical", "info")[target % 3]
    address = f"10.{target >> 16 & 255}.{target >> 8 & 255}.{target & 255}"
    common = {"alertname": name, "cluster": cluster, "severity": severity, "prometheus": "monitoring/k8s"}
    if name in NODE_ALERTS:
        return {**common, "instance": f"{address}:9100", "job": "node-exporter", "namespace": "monitoring",
                "pod": f"node-exporter-{target:x}", "container": "node-exporter", "endpoint": "https",
                "service": "node-exporter", **({"device": "/dev/nvme0n1p1", "fstype": "ext4", "mountpoint": "/"}
                                               if "Filesystem" in name else {})}
    return {**common, "instance": f"{address}:8443", "job": "kube-state-metrics",
            "namespace": f"team-{target % 300}", "pod": f"api-{target:x}-7d9f8b6c5-{target % 99991:05d}",
            "container": "api", "node": f"ip-{address.replace('.', '-')}.eu-west-1.compute.internal",
            "endpoint": "https-main", "service": "kube-state-metrics"}


class Starts:
    """When each of `alerts` alerts started: evenly over SPREAD, ending at `until` (the run's start)."""

    def __init__(self, alerts: int, until: datetime | None = None):
        self.first = (until or datetime.now(timezone.utc)) - SPREAD
        self.spacing = SPREAD / max(alerts, 1)

    def of(self, number: int) -> datetime:
        return self.first + number * self.spacing


def alert_of(number: int, started: datetime) -> dict:
    """Alert `number` as an Alertmanager webhook alert: firing since `started`, no end (stays active)."""
    labels = labels_of(number)
    name = labels["alertname"]
    where = labels.get("pod") or labels["instance"]
    return {
        "status": "firing",
        "labels": labels,
        "annotations": {"summary": f"{name} on {where}",
                        "description": f"{name} has been firing for more than 15 minutes on {where} "
                                       f"in cluster {labels['cluster']}.",
                        "runbook_url": f"https://runbooks.prometheus-operator.dev/runbooks/general/{name.lower()}"},
        "startsAt": started.isoformat().replace("+00:00", "Z"),
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": f"http://prometheus-k8s-0:9090/graph?g0.expr=ALERTS%7Balertname%3D%22{name}%22%7D",
        "fingerprint": fingerprint(labels),
    }


def webhook_body(numbers: range, starts: Starts) -> bytes:
    """One Alertmanager webhook notification carrying the alerts `numbers`."""
    alerts = [alert_of(number, starts.of(number)) for number in numbers]
    return json.dumps({"receiver": "correlator", "status": "firing", "alerts": alerts, "groupLabels": {},
                       "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://alertmanager:9093",
                       "version": "4", "groupKey": "{}:{}", "truncatedAlerts": 0},
                      separators=(",", ":")).encode()


def bodies(start: int, stop: int, per_body: int, starts: Starts):
    """Webhook bodies carrying alerts `start`..`stop - 1`, `per_body` alerts each."""
    for first in range(start, stop, per_body):
        yield webhook_body(range(first, min(first + per_body, stop)), starts)
