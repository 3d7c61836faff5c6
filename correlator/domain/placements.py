"""Where pods run, as a placement source tells it (kube-state-metrics' `kube_pod_info`, read from
Prometheus by the daemon, `correlator/placements.py`): the public rule sets' pod alerts name no
node, so a pod's alert is about the node it runs on only where this says which."""

from __future__ import annotations

import msgspec


class PodPlacement(msgspec.Struct, frozen=True):
    namespace: str
    pod: str
    node: str  # "": the pod is gone


class Placements(msgspec.Struct, frozen=True):
    """What changed in one cluster's placement since the source last told (all of it the first
    time): the body of a `placement` row of the engine's input log and of a recording line."""

    cluster: str  # the value of the cluster label its alerts carry ("" where they carry none)
    pods: list[PodPlacement]


_decode = msgspec.json.Decoder(Placements).decode


def decode_placements(body: bytes) -> Placements:
    """Raises msgspec.ValidationError or DecodeError when `body` is not a Placements."""
    return _decode(body)
