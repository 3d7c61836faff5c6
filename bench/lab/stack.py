"""The lab's programs: exporters, a throwaway PostgreSQL, Prometheus, Alertmanager and the daemon.

Every program binds to 127.0.0.1 on a free port, runs as a child of the lab (and dies with it:
PR_SET_PDEATHSIG), and is stopped by `Stack.close`. Every wait is a bounded poll.
"""

from __future__ import annotations

import ctypes
import glob
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import yaml

REPO = Path(__file__).resolve().parents[2]
PR_SET_PDEATHSIG = 1
CLUSTER = "lab"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


def http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:
        return response.status == 200


def touches(scope: dict[str, list[str]], labels: dict[str, str]) -> bool:
    """Whether an alert names a scrape target of `scope` (Stack.scope): its job or its instance."""
    return labels.get("job") in scope["jobs"] or labels.get("instance") in scope["instances"]


def _child_setup(user: str | None) -> Callable[[], None]:
    """Runs in the child before exec: drop to `user` (PostgreSQL refuses root), then ask the kernel
    to end the child when the lab dies (set after the uid change, which would clear it)."""
    def setup() -> None:
        if user is not None and os.getuid() == 0:
            entry = pwd.getpwnam(user)
            os.setgid(entry.pw_gid)
            os.setuid(entry.pw_uid)
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    return setup


@dataclass
class Program:
    name: str
    args: list[str]
    log: Path
    ready_url: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    stop_signal: int = signal.SIGTERM
    process: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> "Program":
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(self.args, stdout=log, stderr=log, env={**os.environ, **self.env},
                                            preexec_fn=_child_setup(self.user))
        if self.ready_url:
            wait_for(lambda: self.process.poll() is None and http_ok(self.ready_url), timeout,
                     f"{self.name} (log: {self.log})")
        return self

    def kill(self) -> None:
        """The fault: SIGKILL, no goodbye."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if not self.process or self.process.poll() is not None:
            return
        self.process.send_signal(self.stop_signal)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()


def postgres_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise SystemExit(f"{name} not found under /usr/lib/postgresql; run bench/lab/install.sh")
    return found[-1]


def require(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        raise SystemExit(f"{binary} is not installed; run bench/lab/install.sh")
    return path


# Alertmanager's route timings: the lab's, which deliver every change within seconds; the ones the
# README recommends for correlator's route, which deliver a group's changes within half a minute; or
# the ones Alertmanager documents as its defaults, which hold a group's new alerts and resolves up to
# 5 minutes.
ALERTMANAGER_TIMINGS = {
    "lab": {"group_wait": "2s", "group_interval": "5s", "repeat_interval": "1m"},
    "recommended": {"group_wait": "10s", "group_interval": "30s", "repeat_interval": "4h"},
    "default": {"group_wait": "30s", "group_interval": "5m", "repeat_interval": "4h"},
}


class Stack:
    """All the lab's programs, configured in `out`; `programs` maps a name to its Program."""

    def __init__(self, out: Path, rules_dir: Path, alertmanager_timing: str = "lab",
                 alertmanager_group_by: tuple[str, ...] = ("alertname", "cluster")):
        self.out, self.rules_dir = out, rules_dir
        self.alertmanager_timing = ALERTMANAGER_TIMINGS[alertmanager_timing]
        self.alertmanager_group_by = list(alertmanager_group_by)
        self.ports = {name: free_port() for name in
                      ("app", "node", "blackbox", "postgres", "pg_exporter", "prometheus", "alertmanager",
                       "correlator")}
        self.programs: dict[str, Program] = {}
        self.pg_user = "postgres" if os.getuid() == 0 else None

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    @property
    def app_url(self) -> str:
        return self.url("app") + "/"

    def scope(self, target: str) -> dict[str, list[str]]:
        """The `job` and `instance` label values of a target's scrape jobs: the alerts a fault on it can
        cause carry one of them (rules that aggregate `by (instance)` drop the job, `by (job)` the
        instance). The database is scraped by its exporter and probed over TCP, as its clients see it."""
        node, exporter, database = (f"127.0.0.1:{self.ports[p]}" for p in ("node", "pg_exporter", "postgres"))
        return {"app": {"jobs": ["blackbox"], "instances": [self.app_url]},
                "node": {"jobs": ["node"], "instances": [node]},
                "postgres": {"jobs": ["postgres", "blackbox-postgres"], "instances": [exporter, database]},
                "probes": {"jobs": ["blackbox", "blackbox-postgres"], "instances": [self.app_url, database]}}[target]

    def firing(self, scope: dict[str, list[str]]) -> list[str]:
        """The alerts Prometheus has firing now on the target of `scope`."""
        with urllib.request.urlopen(self.url("prometheus") + "/api/v1/alerts", timeout=10) as response:
            alerts = json.loads(response.read())["data"]["alerts"]
        return sorted({a["labels"]["alertname"] for a in alerts if a["state"] == "firing" and touches(scope, a["labels"])})

    def start(self) -> None:
        self._add(self._correlator()).start(timeout=60)
        self._add(self._alertmanager()).start()
        self._add(self._app()).start()
        self._add(self._node()).start()
        self._add(self._blackbox()).start()
        self._add(self._postgres())
        self.start_postgres()
        self._add(self._pg_exporter()).start()
        self._add(self._prometheus()).start(timeout=60)

    def close(self) -> None:
        for program in reversed(list(self.programs.values())):
            program.stop()

    def start_postgres(self) -> None:
        program = self.programs["postgres"].start()
        isready = [postgres_bin("pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.ports["postgres"])]
        wait_for(lambda: program.process.poll() is None and subprocess.run(isready).returncode == 0, 30,
                 "the lab's PostgreSQL")

    def _add(self, program: Program) -> Program:
        self.programs[program.name] = program
        return program

    def _log(self, name: str) -> Path:
        (self.out / "logs").mkdir(parents=True, exist_ok=True)
        return self.out / "logs" / f"{name}.log"

    def _correlator(self) -> Program:
        config = self.out / "correlator.yaml"
        config.write_text(yaml.safe_dump({"server": {"port": self.ports["correlator"]},
                                          "store": {"data_dir": str(self.out / "correlator-data")}}))
        env = {"PYTHONPATH": str(REPO)}
        return Program("correlator", [sys.executable, "-m", "correlator", "serve", "--config", str(config),
                                      "--record", str(self.out / "recording.jsonl")],
                       self._log("correlator"), self.url("correlator") + "/readyz", env=env)

    def _alertmanager(self) -> Program:
        config = self.out / "alertmanager.yml"
        config.write_text(yaml.safe_dump({
            "route": {"receiver": "correlator", "group_by": self.alertmanager_group_by, **self.alertmanager_timing},
            "receivers": [{"name": "correlator", "webhook_configs": [
                {"url": self.url("correlator") + "/api/v1/alertmanager", "send_resolved": True}]}],
        }))
        return Program("alertmanager", [
            require("prometheus-alertmanager"), f"--config.file={config}",
            f"--storage.path={self.out / 'alertmanager-data'}",
            f"--web.listen-address=127.0.0.1:{self.ports['alertmanager']}", "--cluster.listen-address="],
            self._log("alertmanager"), self.url("alertmanager") + "/-/ready")

    @property
    def database_dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.ports['postgres']}/postgres?sslmode=disable"

    def replace_app(self, status: int = 200, delay: float = 0.0, flap: float = 0.0) -> None:
        """The application, on its port, answering every request with `status` after `delay` seconds
        (with `flap`, only every other `flap` seconds, 200 in between): the faults that leave it up
        but wrong (200 at once: repaired)."""
        self.programs["app"].stop()
        self.programs["app"] = self._app(status, delay, flap)
        self.programs["app"].start()

    def _app(self, status: int = 200, delay: float = 0.0, flap: float = 0.0) -> Program:
        """The application the blackbox exporter probes: an HTTP server (a healthy one is waited for)."""
        answer = f"200 if int(time.time() // {flap}) % 2 else {status}" if flap else str(status)
        code = ("import http.server, time\n"
                "class App(http.server.BaseHTTPRequestHandler):\n"
                "    def do_GET(self):\n"
                f"        time.sleep({delay})\n"
                f"        self.send_response({answer})\n"
                "        self.end_headers()\n"
                "        self.wfile.write(b'lab app\\n')\n"
                f"http.server.ThreadingHTTPServer(('127.0.0.1', {self.ports['app']}), App).serve_forever()\n")
        return Program("app", [sys.executable, "-c", code], self._log("app"),
                       self.app_url if status == 200 and not delay else None)

    def _node(self) -> Program:
        return Program("node-exporter", [
            require("prometheus-node-exporter"), f"--web.listen-address=127.0.0.1:{self.ports['node']}",
            "--no-collector.textfile"], self._log("node-exporter"), self.url("node") + "/metrics")

    def _blackbox(self) -> Program:
        config = self.out / "blackbox.yml"
        config.write_text(yaml.safe_dump({"modules": {"http_2xx": {"prober": "http", "timeout": "2s"},
                                                      "tcp_connect": {"prober": "tcp", "timeout": "2s"}}}))
        return Program("blackbox-exporter", [
            require("prometheus-blackbox-exporter"), f"--config.file={config}",
            f"--web.listen-address=127.0.0.1:{self.ports['blackbox']}"],
            self._log("blackbox-exporter"), self.url("blackbox") + "/metrics")

    def _postgres(self) -> Program:
        """A throwaway cluster of the lab's own, never the machine's shared PostgreSQL."""
        data, sockets = self.out / "pg-data", self.out / "pg-sockets"
        if not data.exists():
            for directory in (data, sockets):
                directory.mkdir(parents=True)
                if self.pg_user:
                    shutil.chown(directory, self.pg_user, self.pg_user)
            subprocess.run([postgres_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
                           check=True, stdout=subprocess.DEVNULL, stderr=self._log("initdb").open("ab"),
                           preexec_fn=_child_setup(self.pg_user))
        # SIGINT is PostgreSQL's fast shutdown.
        return Program("postgres", [
            postgres_bin("postgres"), "-D", str(data), "-p", str(self.ports["postgres"]),
            "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={sockets}"],
            self._log("postgres"), user=self.pg_user, stop_signal=signal.SIGINT)

    def _pg_exporter(self) -> Program:
        return Program("postgres-exporter", [
            require("prometheus-postgres-exporter"), f"--web.listen-address=127.0.0.1:{self.ports['pg_exporter']}"],
            self._log("postgres-exporter"), self.url("pg_exporter") + "/metrics",
            env={"DATA_SOURCE_NAME": self.database_dsn})

    def _prometheus(self) -> Program:
        config = self.out / "prometheus.yml"

        def job(name: str, port: str) -> dict:
            return {"job_name": name, "static_configs": [{"targets": [f"127.0.0.1:{self.ports[port]}"]}]}

        def probe(name: str, module: str, target: str) -> dict:
            """A blackbox probe of `target`, labeled with it as `instance`."""
            return {"job_name": name, "metrics_path": "/probe", "params": {"module": [module]},
                    "static_configs": [{"targets": [target]}],
                    "relabel_configs": [
                        {"source_labels": ["__address__"], "target_label": "__param_target"},
                        {"source_labels": ["__param_target"], "target_label": "instance"},
                        {"target_label": "__address__", "replacement": f"127.0.0.1:{self.ports['blackbox']}"}]}

        config.write_text(yaml.safe_dump({
            "global": {"scrape_interval": "5s", "evaluation_interval": "5s", "external_labels": {"cluster": CLUSTER}},
            "rule_files": [str(path) for path in sorted(self.rules_dir.glob("*.yml"))],
            "alerting": {"alertmanagers": [{"static_configs": [
                {"targets": [f"127.0.0.1:{self.ports['alertmanager']}"]}]}]},
            "scrape_configs": [
                job("prometheus", "prometheus"), job("alertmanager", "alertmanager"), job("node", "node"),
                job("postgres", "pg_exporter"),
                probe("blackbox", "http_2xx", self.app_url),
                probe("blackbox-postgres", "tcp_connect", f"127.0.0.1:{self.ports['postgres']}"),
            ],
        }))
        return Program("prometheus", [
            require("prometheus"), f"--config.file={config}", f"--storage.tsdb.path={self.out / 'prometheus-data'}",
            f"--web.listen-address=127.0.0.1:{self.ports['prometheus']}"],
            self._log("prometheus"), self.url("prometheus") + "/-/ready")
