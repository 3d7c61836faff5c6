"""Real lab recordings (bench/lab): real exporters, awesome-prometheus-alerts rules and a real
Alertmanager, while a script killed the app, burned a core, stopped the database twice (once during
the burn) and killed an exporter; in the third run also made the app answer errors, then slowly while
the database's connections were exhausted, and killed the database's exporter (and in the fourth
the probes' exporter, and kept the disk busy writing; in the fifth made the app flap while the host
ran out of memory; in the sixth the host's rules were kube-prometheus' node-exporter mixin and
TargetDown, which names only a scrape job; the seventh gave Alertmanager its default timings, so
alerts came minutes late and mostly resolved already; the eighth also made every alert a group of
its own, `group_by: ['...']`; the ninth used the route the README recommends, group_wait 10s and
group_interval 30s, and the tenth that route with `group_by: ['...']`; the twelfth and thirteenth
restarted the daemon three times during the faults, and the fourteenth, with default timings, twice).
Replayed with the
shipped rules and model, each fault should be one incident of its own. Every lab target runs on one
host, 127.0.0.1: its port tells the services apart, so different faults no longer share an incident.
In the second database outage the probe failed before the database's alert came: its cause takes in
the incident it opened. What remains: background alerts on the lab's node (context switching, clock)
join each other by closeness, and in the third run the CPU burn's load alert joined them. That test
is the target, marked xfail(strict=True) so it fails loudly the day the engine passes it."""

import json
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from correlator.cli import main
from correlator.offline.scoring import read_placements, read_truth

RECORDINGS = Path(__file__).resolve().parents[1] / "bench" / "lab" / "recordings"
sys.path.insert(0, str(RECORDINGS.parent))
from truth import derive_truth, read_episodes, read_faults  # noqa: E402
# The second run with this daemon live, its Prometheus alerts on 5-second evaluations; the third with
# four more faults, the fourth with two more.
RUNS = ("2026-12-02", "2026-12-04", "2026-12-04b", "2026-12-04c", "2026-12-04d", "2026-12-05", "2026-12-05b",
        "2026-12-05c", "2026-12-05d", "2026-12-05e", "2026-12-05f", "2026-12-05g", "2026-12-05h", "2026-12-05i",
        "2026-12-06")
BACKGROUND = "background-"
FIRST_FAULTS = {"app-down", "db-outage-1", "db-outage-2", "exporter-down"}
# The faults with alerts of their own: in the first two runs the CPU burn had none (the machine's load
# had HostHighCpuLoad firing already when it began).
FAULTS = {"2026-12-02": FIRST_FAULTS, "2026-12-04": FIRST_FAULTS,
          "2026-12-04b": FIRST_FAULTS | {"cpu-burn", "app-errors", "db-connections", "app-slow", "pg-exporter-down"}}
FAULTS["2026-12-04c"] = FAULTS["2026-12-04b"] | {"probes-down", "disk-writes"}
# The fifth added the app flapping while the host ran out of memory; its CPU burn had no alert again.
FAULTS["2026-12-04d"] = FAULTS["2026-12-04c"] - {"cpu-burn"} | {"app-flapping", "memory-hog"}
# The sixth ran the host's rules of kube-prometheus (the node-exporter mixin and TargetDown) and burned
# both cores: the burn had an alert, the disk writes none (NodeDiskIOSaturation waits for a long queue).
FAULTS["2026-12-05"] = FAULTS["2026-12-04d"] - {"disk-writes"} | {"cpu-burn"}
# The seventh, with Alertmanager's default timings (a group's changes wait up to 5 minutes): the app's
# errors, a minute long, fired and cleared between two notifications of their group and were never sent.
FAULTS["2026-12-05b"] = FAULTS["2026-12-05"] - {"app-errors"}
# The eighth, awesome-prometheus-alerts' host rules again, Alertmanager's default timings and
# `group_by: ['...']` (every alert a group of its own): the app's errors and its flaps, shorter than
# group_wait, were never sent; a two-core burn had its alert.
FAULTS["2026-12-05c"] = FAULTS["2026-12-04d"] - {"app-errors", "app-flapping"} | {"cpu-burn"}
# The ninth, with the route the README recommends (group_wait 10s, group_interval 30s): every fault sent.
FAULTS["2026-12-05d"] = FAULTS["2026-12-04d"] | {"cpu-burn"}
FAULTS["2026-12-05e"] = FAULTS["2026-12-05d"]  # the tenth: that route with `group_by: ['...']`
FAULTS["2026-12-05f"] = FAULTS["2026-12-05"]  # the eleventh: that route with the kube-prometheus host rules
FAULTS["2026-12-05g"] = FAULTS["2026-12-05f"]  # the twelfth: the same, the daemon restarted three times during it
# The thirteenth: Alertmanager's default timings and the daemon restarted three times. The app's
# errors, the database exporter killed and the probes' exporter killed, each a minute long, fired
# and cleared between two notifications of their group and were never sent.
FAULTS["2026-12-05h"] = FAULTS["2026-12-04d"] - {"app-errors", "pg-exporter-down", "probes-down"} | {"cpu-burn"}
# The fourteenth: the same, restarted twice, with this engine live: the app's errors and flaps, and both
# exporters killed, were never sent (each cleared between two notifications of its group).
FAULTS["2026-12-05i"] = FAULTS["2026-12-05h"] - {"app-flapping"}
# The fifteenth: the README's route again, a two-core burn, the dead man's switch a heartbeat.
FAULTS["2026-12-06"] = FAULTS["2026-12-05d"]
# Faults split in more than one incident: the probes' exporter killed is PrometheusAllTargetsMissing
# for each of its two jobs, 5 seconds apart, which name nothing in common; two starts of a name that
# fired twice in the run's last half hour are not beyond chance for a storm.
# (The killed node exporter's TargetDown, delivered 11 minutes late with default timings, after its
# incident had resolved, reopens it: it started before the incident's alerts cleared.)
SPLIT = {"2026-12-04c": {"probes-down": 2}, "2026-12-04d": {"probes-down": 2}, "2026-12-05": {"probes-down": 2},
         "2026-12-05b": {"probes-down": 2}, "2026-12-05c": {"probes-down": 2}, "2026-12-05d": {"probes-down": 2},
         "2026-12-05e": {"probes-down": 2}, "2026-12-05f": {"probes-down": 2}, "2026-12-05g": {"probes-down": 2},
         "2026-12-06": {"probes-down": 2},
         # The flapping app with default timings: each of its two alerts' episodes went back to that
         # alert's incident; the two alerts, at one evaluation on a URL that had alerted four times
         # in half an hour, stayed apart (too few alerts were sent to learn the evaluation lattice).
         "2026-12-05h": {"app-flapping": 2}}
# Each fault alone, the classifier's reading where it is not the truth's (truth, reading): a slow
# probe says nothing of why, and the lexicon reads a probe's layer as its network. (The disk kept
# busy writing, `HostUnusualDiskWriteRate`, is read as what it is, load: capacity.)
SLOW_APP = [("software", "network")]
MISREAD = {stem: SLOW_APP for stem in ("2026-12-04b", "2026-12-04c", "2026-12-04d", "2026-12-05", "2026-12-05b",
                                       "2026-12-05c", "2026-12-05d", "2026-12-05e", "2026-12-05f", "2026-12-05g",
                                       "2026-12-05h", "2026-12-05i", "2026-12-06")}


@pytest.fixture(scope="module", params=RUNS)
def recording(request) -> Path:
    return RECORDINGS / f"{request.param}.jsonl"


@pytest.fixture(scope="module")
def incidents_of_each_fault(recording, tmp_path_factory) -> dict[str, set[str]]:
    """True incident (a fault, or one background episode) -> the replay's incidents holding its episodes."""
    out = tmp_path_factory.mktemp("lab") / "incidents.jsonl"
    assert main(["replay", str(recording), "--out", str(out)]) == 0
    placements = read_placements(out)
    landed = defaultdict(set)
    for episode, label in read_truth(recording.with_suffix(".truth.jsonl")).episodes.items():
        if label.incident is None:  # the dead man's switch: a heartbeat, no incident
            assert episode not in placements
            continue
        assert episode in placements
        landed[label.incident].add(placements[episode].incident)
    return landed


def faults(landed: dict[str, set[str]]) -> dict[str, set[str]]:
    return {name: incidents for name, incidents in landed.items() if not name.startswith(BACKGROUND)}


def test_the_replay_places_every_labeled_episode_of_the_lab(recording, incidents_of_each_fault):
    assert set(faults(incidents_of_each_fault)) == FAULTS[recording.stem]
    assert all(incidents_of_each_fault.values())


def test_a_killed_app_is_one_incident(incidents_of_each_fault):
    assert len(incidents_of_each_fault["app-down"]) == 1


def test_each_lab_fault_is_one_incident(recording, incidents_of_each_fault):
    split = SPLIT.get(recording.stem, {})
    assert {name: len(incidents) for name, incidents in faults(incidents_of_each_fault).items()} == \
        {name: split.get(name, 1) for name in faults(incidents_of_each_fault)}


def test_different_kinds_of_fault_on_the_one_lab_host_share_no_incident(recording, incidents_of_each_fault):
    kinds = defaultdict(set)
    for name, incidents in incidents_of_each_fault.items():
        kind = "background" if name.startswith(BACKGROUND) else name.rstrip("-0123456789")
        for incident in incidents:
            kinds[incident].add(kind)
    # The burn's HostHighCpuLoad stays apart from the node's context switching and clock alerts of
    # five minutes before: the lab's first minutes bring its faults' alerts at a busy pace (about
    # eight in its first five), where closeness alone is no evidence. Read from the alerts started
    # so far instead, the burn joined them.
    assert [names for names in kinds.values() if len(names) > 1] == []


def test_two_database_outages_minutes_apart_share_no_incident(incidents_of_each_fault):
    # With Alertmanager's default timings the second outage came before the first one's end was
    # sent (the seventh, eighth, thirteenth and fourteenth runs): it is still an incident of its own.
    assert not incidents_of_each_fault["db-outage-1"] & incidents_of_each_fault["db-outage-2"]


def test_lab_faults_and_background_alerts_share_no_incident(recording, incidents_of_each_fault, request):
    # The kube host rules give the lab's node one background alert: nothing to join.
    if recording.stem not in ("2026-12-05", "2026-12-05b", "2026-12-05f", "2026-12-05g"):
        request.applymarker(pytest.mark.xfail(strict=True, reason="issue 12: background alerts on the lab's node "
                                              "(context switching, clock, CPU load) join each other by closeness"))
    holders = defaultdict(set)
    for name, incidents in incidents_of_each_fault.items():
        for incident in incidents:
            holders[incident].add(name)
    assert [names for names in holders.values() if len(names) > 1] == []


def test_the_truth_of_each_lab_recording_is_what_its_recording_and_fault_log_give(recording):
    # bench/lab/truth.py, as `run.py --score-only` derives it: in the seventh run, Alertmanager sent
    # the second database outage's alerts in place of the first's, whose ends it never sent.
    lines = derive_truth(read_episodes(recording), read_faults(recording.with_suffix(".faults.jsonl")))
    assert lines == [json.loads(line) for line in recording.with_suffix(".truth.jsonl").read_text().splitlines()]


def test_each_lab_fault_grouped_alone_is_classified_as_its_truth_says(recording):
    # classification apart from grouping: the root alert's words decide (bench/classify.py --source lab)
    from bench.classify import derived, from_recording
    from correlator.ml.artifact import load as load_model
    from correlator.rules.loader import load_rules
    from correlator.shipped import shipped_dir

    rules, model = load_rules(shipped_dir("rules")), load_model(shipped_dir("models"))
    faults = from_recording(recording)
    assert len(faults) == len(FAULTS[recording.stem])
    readings = [(truth.category, derived(rules, truth, model)[0].category) for truth in faults]
    assert [(truth, read) for truth, read in readings if truth != read] == MISREAD.get(recording.stem, [])
