"""Every shell command in the README runs as written, in README order, as a new user runs it: in a
fresh directory with a temporary home (so the default store is ~/.local/share/correlator), the
config files the README shows written beside it, and `correlator` on PATH. A daemon the README
starts (`correlator serve ...`) listens on a free port on 127.0.0.1 (CORRELATOR_SERVER_HOST/PORT:
the environment overrides the README's file, as documented), receives the captured Alertmanager
notifications, answers the README's `curl` commands that follow it, and is stopped with SIGTERM
before the next command. Every wait is a bounded poll."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import CAPTURES
from tests.processes import engine_caught_up, engine_ready, free_port, http_json, require_program, wait_for

ROOT = Path(__file__).parents[1]
README = ROOT / "README.md"
TOKEN = "s3cret"  # the quickstart's

# The commands not run here, and why. Anything else the README shows must run below.
NOT_RUN = {
    # Installing packages: the suite runs the code under test, already installed.
    "python3 -m pip install .": "installs the package",
    "./tests/install-system-deps.sh": "installs Debian packages and sets up PostgreSQL (apt-get, sudo)",
    "pip install -q -e '.[test]'": "installs packages",
    "pytest": "the suite itself",
    "bench/lab/install.sh": "installs Debian packages (exporters, Prometheus, Alertmanager)",
    # Benchmarks: measurements that take minutes to an hour (and install wrk when it is missing).
    "python3 bench/ingest.py": "installs Debian's wrk when missing; minutes of load",
    "PYTHONPATH=$PWD python3 bench/fuzz.py --cases 100000 --seed 1": "100,000 cases (tests/test_fuzz_*.py run a slice)",
    "python3 bench/memory.py": "minutes: 100k alerts through a daemon",
    "python3 bench/soak.py --minutes 60": "an hour",
    "PYTHONPATH=$PWD python3 bench/scale.py --duration 5 --kills 10": "minutes: replicas under load and 10 leader kills",
    "python3 bench/lab/run.py --out /tmp/lab": "14 minutes of real faults against installed exporters",
}
COMMAND_TIMEOUT = 600  # seconds; `correlator train` is the slowest (about a minute on a busy machine)
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def readme_commands(text: str) -> list[str]:
    """The commands of the sh blocks in order: one a line, `a && b` as two, comments dropped."""
    commands = []
    for language, body in FENCE.findall(text):
        if language != "sh":
            continue
        for line in body.splitlines():
            line = re.sub(r"\s+#\s.*$", "", line).strip()
            commands += [part.strip() for part in line.split(" && ") if part.strip()]
    return commands


def readme_files(text: str) -> dict[str, str]:
    """The YAML blocks that name their file on their first line (`# correlator.yaml`)."""
    return {match.group(1): body for language, body in FENCE.findall(text)
            if language == "yaml" and (match := re.match(r"# ([\w.-]+)\n", body))}


def test_the_readme_parsing_sees_every_block():
    commands = readme_commands(README.read_text())
    assert "CORRELATOR_TOKEN=s3cret correlator serve --config correlator.yaml" in commands
    assert set(NOT_RUN) <= set(commands), f"exempted but no longer in the README: {set(NOT_RUN) - set(commands)}"
    assert {"correlator.yaml", "alertmanager.yml", "prometheus.yml"} <= set(readme_files(README.read_text()))


def test_the_readmes_alertmanager_and_prometheus_configs_load(tmp_path):
    files = readme_files(README.read_text())
    for name, checker in (("alertmanager.yml", ["amtool", "check-config"]),
                          ("prometheus.yml", ["promtool", "check", "config"])):
        (tmp_path / name).write_text(files[name])
        done = subprocess.run([require_program(checker[0]), *checker[1:], name], cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"{name}: {done.stdout}{done.stderr}"


class Daemon:
    """A README `correlator serve` command, running."""

    def __init__(self, command: str, cwd: Path, env: dict[str, str], port: int, log: Path):
        self.command, self.url = command, f"http://127.0.0.1:{port}"
        self.log = log.open("wb")
        self.process = subprocess.Popen(["bash", "-c", command], cwd=cwd, env=env, stdout=self.log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        self.log_path = log

    def ready(self) -> None:
        def up():
            assert self.process.poll() is None, f"{self.command!r} exited:\n{self.log_path.read_text()}"
            return engine_ready(self.url)  # its engine has started too
        wait_for(up, timeout=120, what=f"{self.command!r} to be ready")

    def receive_captured_notifications(self) -> None:
        """What the quickstart's Alertmanager sends."""
        for number in ("01", "02", "03"):
            body = json.loads((CAPTURES / f"alertmanager-0.25/webhook-{number}.json").read_text())
            status, _ = http_json("POST", f"{self.url}/api/v1/alertmanager", body,
                                  {"Authorization": f"Bearer {TOKEN}"})
            assert status == 200
        # The README lists them next, as soon as the engine has read them.
        wait_for(lambda: engine_caught_up(self.url), timeout=120, what="the engine to read the notifications")

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            code = self.process.wait(timeout=60)
        finally:
            self.log.close()
        assert code == 0, f"{self.command!r} exited {code} on SIGTERM:\n{self.log_path.read_text()}"


def run(command: str, cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=COMMAND_TIMEOUT)
    assert done.returncode == 0, f"{command!r} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def new_user(tmp_path: Path) -> tuple[Path, dict[str, str], int]:
    """A working directory holding what the README's commands read from a checkout (the rules
    and their tests, copied), an environment with a fresh home, and a free port."""
    work, home, bin_dir = tmp_path / "work", tmp_path / "home", tmp_path / "bin"
    for directory in (work, home, bin_dir):
        directory.mkdir()
    shutil.copytree(ROOT / "rules", work / "rules")
    for name, body in readme_files(README.read_text()).items():
        (work / name).write_text(body)
    # `correlator` as installed, running the code under test.
    shim = bin_dir / "correlator"
    shim.write_text(f'#!/bin/sh\nexec {sys.executable} -m correlator "$@"\n')
    shim.chmod(0o755)
    port = free_port()
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("CORRELATOR_", "XDG_")) and name not in ("HOME", "PYTHONPATH")}
    env.update(HOME=str(home), PATH=f"{bin_dir}:{env['PATH']}", PYTHONPATH=str(ROOT),
               CORRELATOR_SERVER_HOST="127.0.0.1", CORRELATOR_SERVER_PORT=str(port))
    return work, env, port


def test_every_command_in_the_readme_runs(tmp_path):
    work, env, port = new_user(tmp_path)
    daemon: Daemon | None = None
    ran = []
    for number, command in enumerate(readme_commands(README.read_text())):
        if command in NOT_RUN:
            continue
        if daemon is not None and not command.startswith("curl "):
            daemon.stop()
            daemon = None
        command = command.replace(":9099", f":{port}")
        if re.match(r"(\w+=\S+ )*correlator serve\b", command):
            daemon = Daemon(command, work, env, port, tmp_path / f"serve-{number}.log")
            daemon.ready()
            daemon.receive_captured_notifications()
        else:
            output = run(command, work, env)
            if command.startswith("curl "):
                assert daemon is not None, f"{command!r} has no daemon to ask"
                assert json.loads(output)["alerts"], output
        ran.append(command)
    if daemon is not None:
        daemon.stop()
    assert len(ran) >= 15, ran
    # The README's promise: SQLite in ~/.local/share/correlator by default.
    assert (Path(env["HOME"]) / ".local/share/correlator/correlator.db").is_file()
    for produced in ("traffic.jsonl", "incidents.jsonl", "traffic.truth.jsonl", "proposed.yaml", "scored.jsonl",
                     "my-model/manifest.json"):
        assert (work / produced).is_file(), produced
