"""A 2xx means durable: SIGKILL or SIGTERM in the middle of a stream of concurrent POSTs loses nothing
answered."""

import signal

import pytest

from tests.processes import Daemon, engine_caught_up, post_stream, running, wait_for


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGTERM])
async def test_every_acknowledged_alert_survives_the_daemon_stopping(tmp_path, stop):
    daemon = Daemon(tmp_path, {})
    daemon.start()
    acknowledged, _ = await post_stream(daemon.url, fault_after=600,
                                        fault=lambda: daemon.process.send_signal(stop))
    code = daemon.process.wait(timeout=30)
    assert code == (-signal.SIGKILL if stop is signal.SIGKILL else 0), daemon.log()
    with running(Daemon(tmp_path, {})) as restarted:
        wait_for(lambda: engine_caught_up(restarted.url), timeout=120, what="the restarted engine to read back the log")
        stored = {alert["fingerprint"] for alert in restarted.all_alerts()}
    assert len(acknowledged) >= 600
    assert acknowledged <= stored, f"{len(acknowledged - stored)} acknowledged alerts were lost"
