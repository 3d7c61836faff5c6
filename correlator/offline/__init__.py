"""What only offline commands use, kept out of the daemon's imports: the labeled corpus generator,
training, rule mining, the rule test runner, replay of recordings and its scores, and their commands."""

from pathlib import Path


def overwrites(out: Path | None, recording: Path) -> bool:
    """Whether writing `out` would destroy the recording a command reads (`--out` given the input)."""
    return out is not None and out.exists() and recording.exists() and out.samefile(recording)
