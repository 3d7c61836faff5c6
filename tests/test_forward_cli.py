"""`correlator forward`: list pending and dead deliveries, retry dead letters, send a test delivery
through the configured destination (a real receiver on 127.0.0.1, the command in its own process)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import yaml

from correlator.cli import main
from correlator.forward.contract import ChangeKind
from correlator.store.outbox import Finish, Outbox, OutboxState
from tests.engine_scenarios import at
from tests.engine_store import open_store
from tests.test_forward_worker import change, plan
from tests.webhook_sink import SECRET, Fault, WebhookSink

ROOT = Path(__file__).parents[1]


def config_file(tmp_path: Path, url: str, **forwarding) -> Path:
    path = tmp_path / "correlator.yaml"
    path.write_text(yaml.safe_dump({"store": {"data_dir": str(tmp_path / "data")}, "forwarding": {
        "destinations": [{"name": "hook", "type": "webhook", "url": url, "secret": SECRET}], **forwarding}}))
    return path


def test_dead_letters_are_listed_and_retried(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = open_store(url)
    plan(store, change("INC-1", ChangeKind.OPENED), change("INC-2", ChangeKind.OPENED))
    box = Outbox(store, "w")
    box.finish([(claimed, Finish(OutboxState.DEAD, error="webhook POST: HTTP 400 bad field"))
                for claimed in box.claim("hook", at(0), 8, 30)], at(1))
    assert main(["forward", "list", "--dead", "--db", url]) == 0
    out = capsys.readouterr().out
    assert "INC-1\thook\topened" in out and "HTTP 400 bad field" in out
    first = box.list(OutboxState.DEAD)[0].id
    assert main(["forward", "retry", str(first), "--db", url]) == 0
    assert [row.incident_id for row in box.list(OutboxState.PENDING)] == ["INC-1"]
    assert main(["forward", "retry", "--all-dead", "--db", url]) == 0
    assert "1 dead letter(s) pending again" in capsys.readouterr().out
    assert main(["forward", "retry", "999", "--db", url]) == 1
    store.dispose()


async def run_cli(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "correlator", *args, cwd=ROOT,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode, out.decode(), err.decode()


async def test_forward_test_sends_through_the_configured_destination(tmp_path):
    sink = WebhookSink()
    await sink.start()
    try:
        code, out, _ = await run_cli("forward", "test", "hook", "--config", str(config_file(tmp_path, sink.url)))
        assert code == 0 and out.strip() == "hook: delivered"
        assert sink.kinds() == ["opened"] and sink.applied[0]["data"]["incident"]["id"].startswith("TEST-")
        sink.faults = [Fault(403, body="forbidden token")]
        code, out, _ = await run_cli("forward", "test", "hook", "--config", str(config_file(tmp_path, sink.url)))
        assert code == 1 and "dead: webhook POST: HTTP 403 forbidden token" in out
    finally:
        await sink.stop()


async def test_a_wrong_destination_option_is_named(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"forwarding": {"destinations": [
        {"name": "hook", "type": "webhook", "url": "http://127.0.0.1:9/x", "secret": "not-a-secret"}]}}))
    code, _, err = await run_cli("forward", "test", "hook", "--config", str(path))
    assert code == 2 and "forwarding.destinations[hook].secret" in err


async def test_serve_refuses_to_start_with_an_unknown_destination_type(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"store": {"data_dir": str(tmp_path / "data")}, "forwarding": {
        "destinations": [{"name": "desk", "type": "zendesk"}]}}))
    code, _, err = await run_cli("serve", "--config", str(path), "--port", "1")
    assert code == 2 and "forwarding.destinations[desk].type: unknown destination type 'zendesk'" in err
