"""Offline replay: a recording (written by `serve --record`, ingest/recording.py) through the full engine
in event time (the receive times recorded).

Recording format (DESIGN.md), one received notification or operator action per line, in the
order of the engine's input log:
    {"at": "2026-11-23T03:41:24.204Z", "source": "alertmanager", "body": {...}}
    {"at": "2026-11-23T03:52:10.018Z", "source": "action", "body": {"incident_id": ..., "action": "acknowledge", ...}}
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Callable, Iterator

import msgspec

from correlator.domain import Alert, PayloadError, Source
from correlator.domain.placements import Placements, decode_placements
from correlator.engine.core import Engine
from correlator.engine.views import incident_replay_line, join_order
from correlator.engine_actions import apply_action
from correlator.ingest.normalize import IngestPolicy, to_utc
from correlator.ingest.sources import Parser
from correlator.offline.scoring import Span
from correlator.store.action_log import LoggedAction, decode_logged_action
from correlator.units import rfc3339


class RecordedNotification(msgspec.Struct):
    at: datetime
    source: str
    body: msgspec.Raw


_line_decoder = msgspec.json.Decoder(RecordedNotification)
_encoder = msgspec.json.Encoder()


class BadLine(Exception):
    def __init__(self, number: int, reason: str):
        super().__init__(f"line {number}: {reason}")
        self.number, self.reason = number, reason


MAX_BAD_LINES_KEPT = 20  # --skip-bad names the first bad lines; the rest are only counted


@dataclass
class ReplaySummary:
    notifications: int = 0
    actions: int = 0  # operator actions applied (or refused as live)
    alerts: int = 0
    incidents: int = 0
    bad_lines: int = 0
    first_bad: list[BadLine] = field(default_factory=list)  # the first MAX_BAD_LINES_KEPT
    seconds: float = 0.0

    @property
    def reduction(self) -> float:
        """Alert episodes per incident: how many pages one incident saves."""
        return self.alerts / self.incidents if self.incidents else 0.0


def clipped(reason: str, limit: int = 300) -> str:
    """A bad line's reason, short enough for a terminal (it may quote the line)."""
    return reason if len(reason) <= limit else reason[:limit] + "..."


def bad_line_stop(path: Path, error: BadLine) -> str:
    """What a command that stops at a bad line prints."""
    return f"correlator: {path}:{error.number}: {clipped(error.reason)} (use --skip-bad to go on)"


def report_skipped(path: Path, summary: ReplaySummary) -> None:
    """Name the bad lines --skip-bad skipped (the first MAX_BAD_LINES_KEPT) and count the rest, on stderr."""
    for bad in summary.first_bad:
        print(f"correlator: {path}:{bad.number}: skipped: {clipped(bad.reason)}", file=sys.stderr)
    if summary.bad_lines > len(summary.first_bad):
        print(f"correlator: {path}: {summary.bad_lines - len(summary.first_bad)} more bad lines skipped "
              f"(the first {len(summary.first_bad)} are named above)", file=sys.stderr)


def read_entries(lines: IO[bytes], parsers: dict[str, Parser], policy: IngestPolicy, skip_bad: bool,
                 summary: ReplaySummary) -> Iterator[tuple[datetime, list[Alert] | LoggedAction | Placements]]:
    """(receive time, alerts, operator action or pods' placement) per line; bad lines raise BadLine,
    or are counted with skip_bad."""
    for number, line in enumerate(lines, start=1):
        if not line or line.isspace():  # a blank line (strip() would copy every line)
            continue
        try:
            recorded = _line_decoder.decode(line)
            at = to_utc(recorded.at)
            if recorded.source == Source.ACTION:
                action = decode_logged_action(recorded.body)
                summary.actions += 1
                yield at, action
                continue
            if recorded.source == Source.PLACEMENT:
                yield at, decode_placements(recorded.body)
                continue
            parse = parsers.get(recorded.source)
            if parse is None:
                raise BadLine(number, f"unknown source {recorded.source!r}; expected one of "
                                      f"{', '.join([*parsers, Source.ACTION, Source.PLACEMENT])}")
            parsed = parse(bytes(recorded.body), at, policy)
        except (msgspec.ValidationError, msgspec.DecodeError) as error:
            failure = BadLine(number, f"not a recording line: {error}")
        except (OverflowError, ValueError) as error:  # an `at` out of range
            failure = BadLine(number, f"at: {error}")
        except PayloadError as error:
            failure = BadLine(number, f"{error.message}: " + "; ".join(f"{d.path}: {d.reason}" for d in error.details))
        except BadLine as error:
            failure = error
        else:
            summary.notifications += 1
            yield at, parsed.alerts
            continue
        if not skip_bad:
            raise failure
        summary.bad_lines += 1
        if len(summary.first_bad) < MAX_BAD_LINES_KEPT:
            summary.first_bad.append(failure)


def read_recording(lines: IO[bytes], parsers: dict[str, Parser], policy: IngestPolicy,
                   skip_bad: bool, summary: ReplaySummary) -> Iterator[tuple[datetime, list[Alert]]]:
    """(receive time, alerts) per notification line: the recording's alerts, its operator actions and
    placements left out."""
    return ((at, alerts) for at, alerts in read_entries(lines, parsers, policy, skip_bad, summary)
            if not isinstance(alerts, (LoggedAction, Placements)))


def replay(engine: Engine, recording: Path, parsers: dict[str, Parser], policy: IngestPolicy,
           skip_bad: bool = False, progress: Callable[[float, ReplaySummary], None] | None = None,
           progress_seconds: float = 10.0) -> ReplaySummary:
    """Feed the recording through `engine`. `progress(share of the file read, summary so far)` is
    called every `progress_seconds` of wall time, if given (a week of a busy estate takes minutes)."""
    summary = ReplaySummary()
    started = time.perf_counter()
    next_report = started + progress_seconds
    episodes = set()
    size = recording.stat().st_size
    with recording.open("rb") as lines:
        for at, entry in read_entries(lines, parsers, policy, skip_bad, summary):
            if isinstance(entry, LoggedAction):  # as the live engine applies it; its result is the live API's
                apply_action(engine, entry, at, is_closed=lambda _incident_id: False)
                continue
            if isinstance(entry, Placements):
                engine.place_pods(entry)
                continue
            for alert in entry:
                episodes.add((alert.fingerprint, alert.starts_at))
                engine.process(alert, at)
            if progress is not None and time.perf_counter() >= next_report:
                summary.alerts, summary.seconds = len(episodes), time.perf_counter() - started
                progress(lines.tell() / size if size else 1.0, summary)
                next_report = time.perf_counter() + progress_seconds
    summary.alerts = len(episodes)
    summary.incidents = len(engine.incidents)
    summary.seconds = time.perf_counter() - started
    return summary


def report_progress(share: float, summary: ReplaySummary) -> None:
    """The line the commands that replay a recording print on stderr while it runs."""
    print(f"correlator: {share:.0%} of the recording read: {summary.notifications} notifications, "
          f"{summary.alerts} alerts, {summary.bad_lines} bad lines skipped, {summary.seconds:.0f}s", file=sys.stderr)


def write_incidents(engine: Engine, out: Path) -> None:
    """The replay output: one incident per line (DESIGN.md "Replay output"), with its episodes."""
    with out.open("wb") as lines:
        for incident in engine.incidents.values():
            lines.write(_encoder.encode(incident_replay_line(incident)) + b"\n")


def write_truth_draft(engine: Engine, out: Path) -> int:
    """A truth file to label from (`replay --draft-truth`, docs/quality.md): one line per episode the
    engine placed, incident by incident in join order, with the replay's own incident, category and
    priority for a person to correct, and the alert's name, labels and summary to read by (fields
    the truth reader ignores). Returns the episodes written."""
    written = 0
    with out.open("wb") as lines:
        for incident in engine.incidents.values():
            for member in sorted(incident.members.values(), key=join_order):
                labels = dict(member.labels)
                line = {"fingerprint": member.fingerprint, "starts_at": rfc3339(member.starts_at),
                        "incident": incident.id, "category": incident.category,
                        "service_area": incident.service_area, "priority": incident.priority,
                        "alertname": labels.pop("alertname", ""), "labels": labels}
                summary = member.annotations.get("summary")
                if summary:
                    line["summary"] = summary
                lines.write(_encoder.encode(line) + b"\n")
                written += 1
    return written


def episode_spans(engine: Engine, group_by: tuple[str, ...] = ("alertname", "cluster")) -> list[Span]:
    """Every episode the engine placed, keyed for the Alertmanager reference of `--truth`."""
    return [Span(key, tuple(member.labels.get(name, "") for name in group_by), member.starts_at, member.ends_at)
            for incident in engine.incidents.values() for key, member in incident.members.items()]
