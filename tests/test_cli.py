"""The `correlator` command as a user meets it."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from correlator.cli import main

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "correlator", *args], capture_output=True, text=True,
                          timeout=60, env=env)


@pytest.mark.parametrize("args, mentions", [
    ([], "serve"),
    (["serve"], "--db URL"),
    (["db"], "upgrade"),
    (["db", "upgrade"], "Alembic"),
    (["version"], "Print the version"),
    (["train"], "cross-validated"),
    (["analyze"], "propose YAML group/link rules"),
    (["corpus"], "labeled recordings"),
    (["rules", "classify"], "PrometheusRule manifests"),
])
def test_every_subcommand_explains_itself(args, mentions):
    result = run(*args, "--help")
    assert result.returncode == 0 and mentions in result.stdout


def test_version(capsys):
    assert main(["version"]) == 0
    assert capsys.readouterr().out.startswith("correlator 0.")


def test_db_upgrade_creates_the_schema(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    assert main(["db", "upgrade", "--db", url]) == 0
    assert "is at revision 0011" in capsys.readouterr().out
    assert (tmp_path / "c.db").exists()


def test_a_store_that_cannot_be_opened_is_named_in_one_line_with_the_reason(tmp_path, capsys):
    assert main(["db", "upgrade", "--db", "postgresql://nobody@127.0.0.1:1/correlator"]) == 2  # nothing listens
    err = capsys.readouterr().err
    assert err.startswith("correlator: the store at postgresql+psycopg://nobody@127.0.0.1:1/correlator cannot be "
                          "opened: connection failed") and "Traceback" not in err and "database server runs" in err
    assert main(["db", "upgrade", "--db", str(tmp_path / "c.db")]) == 2  # a path, not a URL
    assert "config error at --db: expected sqlite:///PATH" in capsys.readouterr().err
    (tmp_path / "file").write_text("")  # a file where the store's directory should be
    url = f"sqlite:///{tmp_path / 'file' / 'c.db'}"
    assert main(["db", "upgrade", "--db", url]) == 2
    assert f"its directory {tmp_path / 'file'} cannot be made" in capsys.readouterr().err
    result = run("serve", "--db", url, "--port", "0")  # serve's single-daemon lock file is the first to fail
    assert result.returncode == 2 and "cannot be opened: its lock file" in result.stderr
    assert "Traceback" not in result.stderr and "this user may write there" in result.stderr
    result = run("serve", "--db", "postgresql://nobody@127.0.0.1:1/correlator", "--port", "0")  # fails in start-up
    assert result.returncode == 2 and "correlator: the store at postgresql" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_recording_file_that_cannot_be_opened_stops_serve_naming_it(tmp_path):
    result = run("serve", "--db", f"sqlite:///{tmp_path / 'c.db'}", "--port", "0", "--record", str(tmp_path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"config error at server.record: {tmp_path} cannot be opened for appending: Is a directory" in result.stderr


def test_a_port_in_use_stops_serve_in_one_line(tmp_path):
    import socket
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("serve", "--db", f"sqlite:///{tmp_path / 'c.db'}", "--port", str(port))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"correlator: cannot listen on 127.0.0.1:{port}: Address already in use" in result.stderr


def test_bad_config_fails_at_start_naming_the_key(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("server:\n  port: many\n")
    result = run("serve", "--config", str(config))
    assert result.returncode == 2
    assert "config error at server.port: Expected `int`, got `str`" in result.stderr


def test_serve_refuses_a_public_address_without_credentials(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(f"store: {{data_dir: {tmp_path}}}\n")
    result = run("serve", "--config", str(config), "--host", "0.0.0.0")
    assert result.returncode == 2 and "refusing to listen on 0.0.0.0" in result.stderr


def test_the_wheel_ships_config_rules_and_models(tmp_path):
    """A non-editable install finds the shipped defaults inside the package (correlator/shipped.py)."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    [wheel] = tmp_path.glob("correlator-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "correlator/_shipped/config/correlator.yaml" in names
    assert any(name.startswith("correlator/_shipped/rules/") for name in names)
    assert any(name.startswith("correlator/_shipped/models/") for name in names)
    assert "correlator/store/migrations/versions/0001_alerts_and_notifications.py" in names
    assert "correlator/api/openapi.yaml" in names
    assert "correlator/_shipped/rules/tests/shipped-rules.yaml" in names
    assert {"correlator/_shipped/models/manifest.json", "correlator/_shipped/models/correlator-model.skops"} <= names


def test_logs_are_structured_in_either_format(capsys):
    import json
    import logging

    from correlator import logs

    logs.configure("json", "info")
    logging.getLogger("correlator.test").info("stored", extra={"alerts": 3})
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["msg"] == "stored" and line["alerts"] == 3 and line["level"] == "info"

    logs.configure("logfmt", "info")
    logging.getLogger("correlator.test").warning("store unavailable", extra={"reason": "db down"})
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert 'level=warning logger=correlator.test msg="store unavailable" reason="db down"' in line


@pytest.mark.parametrize("argv, message", [
    (["analyze", "x.jsonl", "--min-confidence", "5"], "argument --min-confidence: expected a value from 0 to 1, got 5"),
    (["analyze", "x.jsonl", "--min-support", "abc"], "argument --min-support: expected an integer, got 'abc'"),
    (["corpus", "--seeds", "1", "--hours", "-3", "--out-dir", "x"],
     "argument --hours: expected a value of at least 0.1"),
    (["forward", "list", "--limit", "-1"], "argument --limit: expected a value of at least 1, got -1"),
    (["learned", "topology", "--limit", "0"], "argument --limit: expected a value of at least 1, got 0"),
    (["train", "--output", "x", "--folds", "1"], "argument --folds: expected a value of at least 2, got 1"),
])
def test_numbers_out_of_their_range_are_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2 and message in capsys.readouterr().err
