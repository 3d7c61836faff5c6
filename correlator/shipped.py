"""Where the shipped `config/`, `rules/` and `models/` are: inside the wheel when installed,
beside the package in a source checkout or an editable install."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def shipped_dir(name: str) -> Path:
    installed = _PACKAGE / "_shipped" / name
    return installed if installed.is_dir() else _PACKAGE.parent / name


def default_config_path() -> Path:
    return shipped_dir("config") / "correlator.yaml"
