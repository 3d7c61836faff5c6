"""`correlator serve` as a benchmark subject: started on a fresh SQLite store, observed from outside
(/proc for memory and open files, /metrics for the engine), fed with Alertmanager webhooks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from bench.ingest import free_port, wait_ready


class Daemon:
    def __init__(self, workdir: Path, name: str, config: dict | None = None):
        """Start `correlator serve` with a store in `workdir`; `config` adds to the defaults."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = workdir / f"store-{name}"
        document = {"server": {"port": self.port}, "store": {"data_dir": str(self.data_dir)},
                    "log": {"level": "warning"}, **(config or {})}
        config_path = workdir / f"correlator-{name}.yaml"
        config_path.write_text(json.dumps(document))
        with (workdir / f"correlator-{name}.log").open("ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "correlator", "serve", "--config",
                                             str(config_path)], stdout=log, stderr=log)
        wait_ready(f"{self.url}/readyz", self.process, timeout=180)  # loads the model; the machine may be busy

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)

    def memory(self) -> dict[str, int]:
        """VmRSS and VmHWM (the peak), in bytes."""
        figures = {}
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                figures[name] = int(value.split()[0]) * 1024
        return figures

    def open_files(self) -> int:
        return len(os.listdir(f"/proc/{self.process.pid}/fd"))

    def store_bytes(self) -> int:
        return sum(path.stat().st_size for path in self.data_dir.rglob("*") if path.is_file())

    def metrics(self) -> dict[str, float]:
        """The samples of /metrics, summed over label values, by metric name."""
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=30) as response:
            text = response.read().decode()
        values: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                name = name.split("{", 1)[0]
                values[name] = values.get(name, 0.0) + float(value)
        return values

    def post(self, body: bytes) -> None:
        """POST one Alertmanager webhook, retrying 503 (overload) as Alertmanager would."""
        request = urllib.request.Request(f"{self.url}/api/v1/alertmanager", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        for _ in range(100):
            try:
                with urllib.request.urlopen(request, timeout=120) as response:
                    response.read()
                    return
            except urllib.error.HTTPError as error:
                if error.code != 503:
                    raise
                time.sleep(0.5)
        raise SystemExit("the daemon kept answering 503")

    def wait_processed(self, alerts: int, timeout: float) -> dict[str, float]:
        """Poll /metrics until the engine has processed `alerts` alerts and has no lag; returns the
        metrics then. Bounded by `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            values = self.metrics()
            if values.get("correlator_engine_alerts_total", 0) >= alerts \
                    and values.get("correlator_engine_lag_seconds", 1) == 0:
                return values
            if time.monotonic() > deadline:
                raise SystemExit(f"the engine did not process {alerts} alerts within {timeout:.0f}s (processed "
                                 f"{values.get('correlator_engine_alerts_total', 0):.0f})")
            time.sleep(0.5)
