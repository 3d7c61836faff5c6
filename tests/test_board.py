"""The board in a real browser (headless Debian chromium through Selenium) against `correlator serve`
fed with a replayed recording. Every wait is a WebDriverWait with a bound. Screenshots of each page
go to the test's artifacts directory (and, with BOARD_SCREENSHOTS_DIR set, there too: docs/)."""

from __future__ import annotations

import json
import os
import shutil
import urllib.parse
from pathlib import Path

import pytest

from correlator.shipped import shipped_dir
from correlator.store.database import create_engine
from correlator.store.schema import problems
from tests.board_browser import WAIT_SECONDS, chromium, low_contrast_texts, replay
from tests.fake_servicenow import FakeServiceNow
from tests.processes import Daemon, http_json, running, served_in_thread, wait_for

from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

OPERATOR = "board-operator-token"
READER = "board-reader-token"
ACTIVE = {"open", "acknowledged", "investigating", "escalated"}


@pytest.fixture(scope="module")
def servicenow():
    """A ServiceNow instance on 127.0.0.1 (its Table API) that the daemon forwards incidents to."""
    with served_in_thread(FakeServiceNow()) as (instance, url):
        yield instance, url


@pytest.fixture(scope="module")
def daemon(tmp_path_factory, servicenow):
    tmp = tmp_path_factory.mktemp("board")
    rules = shutil.copytree(shipped_dir("rules"), tmp / "rules")
    config = {"auth": {"default": {"bearer_tokens": [OPERATOR]}, "read_only": {"bearer_tokens": [READER]}},
              "board": {"session_secret": "board-test-session-secret"}, "ml": {"enabled": False},
              "rules": {"dir": str(rules)},
              "forwarding": {"destinations": [{"name": "snow", "type": "servicenow", "options": {
                  "instance_url": servicenow[1], "username": "correlator", "password": "s3cret"}}]}}
    with running(Daemon(tmp, config, token=OPERATOR)) as daemon:
        replay(daemon.url, OPERATOR)
        wait_for(lambda: len(incidents(daemon)) >= 4, timeout=30, what="the engine to open the recording's incidents")
        yield daemon


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("board-screenshots")


@pytest.fixture(scope="module")
def browser():
    driver = chromium()
    try:
        yield driver
    finally:
        driver.quit()


def incidents(daemon, **query) -> list[dict]:
    params = urllib.parse.urlencode({"limit": 500, **query})
    return http_json("GET", f"{daemon.url}/api/v1/incidents?{params}", headers=daemon.auth_headers)[1]["incidents"]


def api(daemon, method, path, body=None):
    return http_json(method, daemon.url + path, body, headers=daemon.auth_headers)


def wait(browser, condition, what: str):
    return WebDriverWait(browser, WAIT_SECONDS, ignored_exceptions=(StaleElementReferenceException,)).until(
        condition, message=f"waiting for {what}")


def log_in(browser, daemon, token: str, path: str = "/incidents") -> None:
    browser.delete_all_cookies()
    browser.get(daemon.url + path)
    wait(browser, EC.url_contains("/login"), "the login page")
    browser.find_element(By.ID, "token").send_keys(token)
    browser.find_element(By.ID, "login").click()
    wait(browser, lambda b: "/login" not in b.current_url, "the login to succeed")


def shown_ids(browser) -> list[str]:
    return [row.get_attribute("data-incident-id") for row in
            browser.find_elements(By.CSS_SELECTOR, "#incident-list tr[data-incident-id]")]


def open_list(browser, daemon, query: str = "") -> None:
    browser.get(f"{daemon.url}/incidents{query}")
    wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#incident-list table, #incident-list .empty"),
         "the incident list")


def screenshot(browser, artifacts: Path, name: str) -> None:
    browser.save_screenshot(str(artifacts / f"board-{name}.png"))
    if os.environ.get("BOARD_SCREENSHOTS_DIR"):
        browser.save_screenshot(str(Path(os.environ["BOARD_SCREENSHOTS_DIR"]) / f"board-{name}.png"))


def test_an_unauthenticated_visitor_is_sent_to_log_in_and_back(browser, daemon):
    target = incidents(daemon)[0]["id"]
    browser.delete_all_cookies()
    browser.get(f"{daemon.url}/incidents/{target}")
    wait(browser, EC.url_contains("/login?next="), "the redirect to the login page")
    browser.find_element(By.ID, "token").send_keys("not-a-token")
    browser.find_element(By.ID, "login").click()
    # The refusal is a new login page: looking for its message before it replaced the old one
    # finds the old page's hidden one, gone from under the driver as the new page arrives.
    wait(browser, EC.url_contains("failed=1"), "the login page again")
    wait(browser, EC.visibility_of_element_located((By.ID, "failed")), "the refusal")
    browser.find_element(By.ID, "token").send_keys(OPERATOR)
    browser.find_element(By.ID, "login").click()
    wait(browser, EC.url_to_be(f"{daemon.url}/incidents/{target}"), "the page asked for first")
    cookie = browser.get_cookie("correlator_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"


def test_the_list_shows_the_incidents_open_first_by_priority(browser, daemon, artifacts):
    log_in(browser, daemon, OPERATOR)
    expected = incidents(daemon)
    wait(browser, lambda b: len(shown_ids(b)) == len(expected), "every incident in the list")
    assert set(shown_ids(browser)) == {incident["id"] for incident in expected}
    by_id = {incident["id"]: incident for incident in expected}
    shown = [(by_id[i]["state"] not in ACTIVE, by_id[i]["priority"]) for i in shown_ids(browser)]
    assert shown == sorted(shown)  # the active ones first, each part by priority
    counts = {link.get_attribute("data-state"): int(link.find_element(By.TAG_NAME, "strong").text)
              for link in browser.find_elements(By.CSS_SELECTOR, "#counts a[data-state]")}
    assert counts == {state: sum(i["state"] == state for i in expected) for state in counts} and len(counts) == 6
    screenshot(browser, artifacts, "incidents")


def test_filters_narrow_the_list_and_stay_in_the_address(browser, daemon):
    log_in(browser, daemon, OPERATOR)
    everything = incidents(daemon)
    priority = everything[0]["priority"]
    wanted = {i["id"] for i in everything if i["priority"] == priority}
    assert len(wanted) < len(everything)
    browser.find_element(By.CSS_SELECTOR, f"#filters input[name=priority][value={priority}]").click()
    wait(browser, lambda b: set(shown_ids(b)) == wanted, f"only the {priority} incidents")
    assert f"priority={priority}" in browser.current_url
    matcher = browser.find_element(By.CSS_SELECTOR, "#filters input[name=filter]")
    matcher.send_keys('alertname="NoSuchAlert"')
    browser.find_element(By.CSS_SELECTOR, "#filters button[type=submit]").click()
    wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#incident-list .empty"), "an empty list")


def open_incident(browser, daemon, incident_id: str) -> None:
    browser.get(f"{daemon.url}/incidents/{incident_id}")
    wait(browser, EC.presence_of_element_located((By.ID, "timeline")), "the incident page")


def test_the_incident_page_shows_why_each_alert_joined_and_why_its_priority(browser, daemon):
    log_in(browser, daemon, OPERATOR)
    target = max(incidents(daemon), key=lambda i: i["firing"])
    document = api(daemon, "GET", f"/api/v1/incidents/{target['id']}")[1]
    open_incident(browser, daemon, target["id"])
    facts = browser.find_element(By.CSS_SELECTOR, ".facts").text
    assert f"impact {document['impact']} × urgency {document['urgency']}" in facts
    assert document["prioritisation"]["detail"] in facts and document["classification"]["detail"] in facts
    groups = {group.find_element(By.TAG_NAME, "h3").text: len(group.find_elements(By.CSS_SELECTOR, ".members > li"))
              for group in browser.find_elements(By.CSS_SELECTOR, ".join-group")}
    reasons = {}
    for member in document["members"]:
        reasons[member["why"]["reason"]] = reasons.get(member["why"]["reason"], 0) + 1
    assert sorted(groups.values()) == sorted(reasons.values())
    assert all(any(reason in heading for heading in groups) for reason in reasons)


def test_the_incident_page_links_its_ticket(browser, daemon, servicenow):
    instance, url = servicenow
    log_in(browser, daemon, OPERATOR)
    target = incidents(daemon)[0]
    wait_for(lambda: api(daemon, "GET", f"/api/v1/incidents/{target['id']}")[1]["tickets"], timeout=30,
             what="the incident's ServiceNow record")
    [ticket] = api(daemon, "GET", f"/api/v1/incidents/{target['id']}")[1]["tickets"]
    assert ticket["key"] in instance.records and ticket["url"].startswith(url)
    open_incident(browser, daemon, target["id"])
    [link] = browser.find_elements(By.CSS_SELECTOR, ".tickets a")
    assert link.text == ticket["key"] and link.get_attribute("href") == ticket["url"]
    assert "snow (servicenow)" in browser.find_element(By.CSS_SELECTOR, ".tickets").text


def test_acknowledge_changes_the_state_and_the_timeline(browser, daemon, artifacts):
    log_in(browser, daemon, OPERATOR)
    target = max((i for i in incidents(daemon) if i["state"] == "open"), key=lambda i: i["firing"])
    open_incident(browser, daemon, target["id"])
    screenshot(browser, artifacts, "incident")
    browser.find_element(By.CSS_SELECTOR, "button[data-action=acknowledge]").click()
    wait(browser, lambda b: b.find_element(By.CSS_SELECTOR, ".headline .badge").text == "acknowledged",
         "the acknowledged state")
    assert browser.find_elements(By.CSS_SELECTOR, "#timeline li[data-kind=acknowledged]")
    assert api(daemon, "GET", f"/api/v1/incidents/{target['id']}")[1]["state"] == "acknowledged"


def test_a_refused_action_shows_the_apis_error(browser, daemon):
    log_in(browser, daemon, OPERATOR)
    target = incidents(daemon)[0]
    open_incident(browser, daemon, target["id"])
    browser.find_element(By.CSS_SELECTOR, "form[data-action=merge] input[name=other_id]").send_keys("no-such-incident")
    browser.find_element(By.CSS_SELECTOR, "form[data-action=merge] button").click()
    error = wait(browser, EC.visibility_of_element_located((By.ID, "action-error")), "the API's error")
    assert "(404)" in error.text and "no-such-incident" in error.text


def test_a_merge_and_a_split(browser, daemon):
    log_in(browser, daemon, OPERATOR)
    first, second = [i for i in incidents(daemon, status="open,acknowledged")][:2]
    open_incident(browser, daemon, first["id"])
    before = len(browser.find_elements(By.CSS_SELECTOR, ".members > li"))
    browser.find_element(By.CSS_SELECTOR, "form[data-action=merge] input[name=other_id]").send_keys(second["id"])
    browser.find_element(By.CSS_SELECTOR, "form[data-action=merge] button").click()
    wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#timeline li[data-kind=merged]"), "the merge")
    after = len(browser.find_elements(By.CSS_SELECTOR, ".members > li"))
    assert after > before
    assert api(daemon, "GET", f"/api/v1/incidents/{second['id']}")[1]["state"] == "closed"

    boxes = browser.find_elements(By.CSS_SELECTOR, "input[name=split]")
    moved = boxes[-1].get_attribute("value")
    boxes[-1].click()
    browser.find_element(By.CSS_SELECTOR, "form[data-action=split] button").click()
    wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#timeline li[data-kind=split]"), "the split")
    created = browser.find_element(By.CSS_SELECTOR, "#action-done a").text
    assert moved in {m["fingerprint"] for m in api(daemon, "GET", f"/api/v1/incidents/{created}")[1]["members"]}
    assert moved not in {m["fingerprint"] for m in api(daemon, "GET", f"/api/v1/incidents/{first['id']}")[1]["members"]}


def test_the_list_updates_when_a_new_alert_arrives(browser, daemon):
    log_in(browser, daemon, OPERATOR)
    open_list(browser, daemon)
    before = set(shown_ids(browser))
    status, _ = api(daemon, "POST", "/api/v2/alerts", [{"labels": {
        "alertname": "BoardLiveUpdate", "cluster": "prod-ap", "instance": "edge-9:9100", "severity": "critical"},
        "annotations": {"summary": "a new alert while the board is open"}}])
    assert status == 200
    new = wait(browser, lambda b: set(shown_ids(b)) - before, "the new incident without a reload")
    assert len(new) == 1


def test_the_read_only_role_sees_but_cannot_act(browser, daemon, artifacts):
    log_in(browser, daemon, READER)
    target = incidents(daemon)[0]
    open_incident(browser, daemon, target["id"])
    assert browser.find_elements(By.ID, "read-only-note")
    assert not browser.find_elements(By.CSS_SELECTOR, "[data-action]")
    # The API refuses the session's writes all the same, CSRF token or not.
    answer = browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        fetch('/board/session').then(r => r.json()).then(session =>
          fetch(location.pathname.replace('/incidents/', '/api/v1/incidents/') + '/acknowledge',
                {method: 'POST', headers: {'X-CSRF-Token': session.csrf_token, 'Content-Type': 'application/json'},
                 body: '{}'})).then(r => r.json().then(body => done([r.status, body.error])));
    """)
    assert answer == [403, "read-only credentials may not act"]


def test_every_page_renders(browser, daemon, artifacts):
    log_in(browser, daemon, OPERATOR)
    fingerprint = api(daemon, "GET", "/api/v1/alerts?limit=1")[1]["alerts"][0]["fingerprint"]
    for name, path, ready in [
            ("alerts", "/alerts", "#alert-results table"),
            ("alert", f"/alerts/{fingerprint}", "#alert-incidents li"),
            ("rules", "/rules", "#last-reload"),
            ("problems", "/problems", "main h1")]:
        browser.get(daemon.url + path)
        wait(browser, EC.presence_of_element_located((By.CSS_SELECTOR, ready)), f"the {name} page")
        screenshot(browser, artifacts, name)


def test_the_rule_form_checks_a_rule_against_recent_alerts(browser, daemon):
    log_in(browser, daemon, OPERATOR)
    browser.get(daemon.url + "/rules")
    content = wait(browser, EC.presence_of_element_located((By.CSS_SELECTOR, "#rule-check textarea")), "the form")
    content.clear()
    content.send_keys("version: 1\nrules:\n  - name: cpu-by-cluster\n    kind: group\n"
                      "    matchers: ['alertname=\"HighCPU\"']\n    group_by: [cluster]\n")
    browser.find_element(By.CSS_SELECTOR, "#rule-check button").click()
    result = wait(browser, lambda b: b.find_element(By.ID, "check-result").text, "the check's result")
    assert "Valid: rules cpu-by-cluster" in result and "HighCPU" in result
    content.clear()
    content.send_keys("version: 1\nrules:\n  - name: broken\n    kind: group\n")
    browser.find_element(By.CSS_SELECTOR, "#rule-check button").click()
    wait(browser, lambda b: "draft.yaml:" in b.find_element(By.ID, "check-result").text, "the file:line error")


def test_the_board_is_usable_on_a_phone(daemon, artifacts):
    phone = chromium(390, 844, phone=True)
    try:
        log_in(phone, daemon, OPERATOR)
        wait(phone, lambda b: shown_ids(b), "the list on a phone")
        assert phone.execute_script("return [window.innerWidth, document.documentElement.scrollWidth]") == [390, 390]
        screenshot(phone, artifacts, "incidents-phone")
        open_incident(phone, daemon, max(incidents(daemon), key=lambda i: i["firing"])["id"])
        assert phone.execute_script("return document.documentElement.scrollWidth") == 390
        screenshot(phone, artifacts, "incident-phone")
    finally:
        phone.quit()


def test_an_incident_can_be_acknowledged_with_the_keyboard_alone(browser, daemon):
    log_in(browser, daemon, OPERATOR)
    target = next(i for i in incidents(daemon) if i["state"] == "open")
    open_incident(browser, daemon, target["id"])
    browser.find_element(By.TAG_NAME, "body").click()
    for _ in range(80):  # the tab order reaches the button within the page's controls
        browser.switch_to.active_element.send_keys(Keys.TAB)
        if browser.switch_to.active_element.get_attribute("data-action") == "acknowledge":
            break
    else:
        raise AssertionError("Tab never reached the acknowledge button")
    browser.switch_to.active_element.send_keys(Keys.ENTER)
    wait(browser, lambda b: b.find_element(By.CSS_SELECTOR, ".headline .badge").text == "acknowledged",
         "the acknowledged state")


def test_alerts_are_searched_by_label_matchers(browser, daemon):
    log_in(browser, daemon, OPERATOR)
    browser.get(daemon.url + "/alerts")
    search = wait(browser, EC.presence_of_element_located((By.ID, "alert-filter")), "the alert search")
    search.send_keys('alertname="HighCPU", instance=~"node[12]:9100"')
    search.submit()
    wait(browser, lambda b: sorted(
        label.text for label in b.find_elements(By.CSS_SELECTOR, "#alert-results tbody .labels li")
        if label.text.startswith("instance=")) == ["instance=node1:9100", "instance=node2:9100"],
        "only the two matching alerts")
    assert "filter=" in browser.current_url


def test_a_rejected_reload_shows_its_file_and_line(browser, daemon):
    rules = Path(daemon.config_path.parent / "rules")
    broken = rules / "zz-broken.yaml"
    broken.write_text("version: 1\nrules:\n  - name: broken\n    kind: group\n    group_by: []\n")
    try:
        # The engine's file watcher finds the broken file and keeps the rules in force.
        wait_for(lambda: api(daemon, "GET", "/api/v1/rules")[1]["last_reload"]["outcome"] == "failure",
                 timeout=20, what="the engine to reject the broken file")
        log_in(browser, daemon, OPERATOR, "/rules")
        errors = wait(browser, lambda b: b.find_element(By.CSS_SELECTOR, "#last-reload + ul.error").text,
                      "the reload's errors")
        assert f"{broken}:5" in errors and "at least one label to group by is required" in errors
        browser.find_element(By.ID, "reload").click()
        refused = wait(browser, lambda b: b.find_element(By.ID, "reload-result").text, "the reload's answer")
        assert refused.startswith("rules rejected; the rules in force stay in force") and f"{broken}:5" in refused
    finally:
        broken.unlink()
    browser.find_element(By.ID, "reload").click()
    wait(browser, lambda b: b.find_element(By.ID, "reload-result").text.startswith("Reloaded:"), "the reload")


def test_every_text_has_readable_contrast(browser, daemon):
    browser.delete_all_cookies()
    browser.get(daemon.url + "/login?failed=1")
    wait(browser, EC.visibility_of_element_located((By.ID, "failed")), "the login page")
    assert low_contrast_texts(browser) == []
    log_in(browser, daemon, OPERATOR)
    wait(browser, lambda b: shown_ids(b), "the list")
    assert low_contrast_texts(browser) == []
    open_incident(browser, daemon, max(incidents(daemon), key=lambda i: i["firing"])["id"])
    assert low_contrast_texts(browser) == []
    for path, ready in (("/alerts", "#alert-results table"), ("/rules", "#last-reload")):
        browser.get(daemon.url + path)
        wait(browser, EC.presence_of_element_located((By.CSS_SELECTOR, ready)), path)
        assert low_contrast_texts(browser) == [], path


def test_a_priority_change_and_a_reclassification_carry_their_reasons(browser, daemon):
    log_in(browser, daemon, OPERATOR)
    target = next(i for i in incidents(daemon) if i["state"] != "closed" and i["priority"] != "P2")
    open_incident(browser, daemon, target["id"])
    form = browser.find_element(By.CSS_SELECTOR, "form[data-action=priority]")
    form.find_element(By.CSS_SELECTOR, "select[name=priority] option[value=P2]").click()
    form.find_element(By.NAME, "reason").send_keys("checkout revenue at risk")
    form.find_element(By.TAG_NAME, "button").click()
    wait(browser, lambda b: b.find_element(By.CSS_SELECTOR, ".headline .badge.priority-P2"), "the new priority")
    assert "checkout revenue at risk" in browser.find_element(By.ID, "timeline").text
    form = browser.find_element(By.CSS_SELECTOR, "form[data-action=classify]")
    form.find_element(By.CSS_SELECTOR, "select[name=category] option[value=network]").click()
    form.find_element(By.NAME, "reason").send_keys("the load balancer dropped the pool")
    form.find_element(By.TAG_NAME, "button").click()
    wait(browser, lambda b: "reclassified: the load balancer dropped the pool" in b.find_element(By.ID, "timeline").text,
         "the reclassification's reason on the timeline")
    assert api(daemon, "GET", f"/api/v1/incidents/{target['id']}")[1]["category"] == "network"


def test_a_storm_incident_shows_its_first_alerts_and_follows_changes(browser, daemon):
    # last in the file: the storm would be the incident with the most firing alerts for the tests above
    storm = [{"labels": {"alertname": "BoardStormPodNotReady", "cluster": "prod-ap", "namespace": f"ns{n % 5}",
                         "pod": f"api-{n}-k8x2p", "severity": "warning"}} for n in range(250)]
    assert api(daemon, "POST", "/api/v2/alerts", storm)[0] == 200
    target = wait_for(lambda: next((i for i in incidents(daemon) if i["firing"] == 250), None), timeout=30,
                      what="the storm's incident")
    log_in(browser, daemon, OPERATOR)
    open_incident(browser, daemon, target["id"])
    assert browser.find_element(By.ID, "alerts-title").text == "Alerts (250)"
    assert browser.find_element(By.ID, "members-omitted").text == "The first 200 of 250 alerts, in the order they joined."
    assert len(browser.find_elements(By.CSS_SELECTOR, ".members > li")) == 200
    assert "earlier ones are not shown" in browser.find_element(By.ID, "timeline-omitted").text
    # a change made elsewhere reaches the page that polls with its ETag
    assert api(daemon, "POST", f"/api/v1/incidents/{target['id']}/acknowledge", {})[0] == 200
    wait(browser, lambda b: b.find_element(By.CSS_SELECTOR, ".headline .badge").text == "acknowledged",
         "the acknowledgement made through the API")


def test_a_problem_page_shows_its_latest_linked_incidents(browser, daemon):
    # a cause that recurred 60 times: the page reads the latest 50 incidents' headers, not 60 whole incidents
    real = [i["id"] for i in incidents(daemon)][:4]
    linked = [f"INC-9{n:05d}" for n in range(56)] + real  # ids of incidents since deleted read as their id
    store = create_engine(f"sqlite:///{daemon.config_path.parent / 'data' / 'correlator.db'}")
    with store.begin() as connection:
        connection.execute(problems.insert(), [{"id": "PRB-900001", "signature": "board-recurring", "state": "open",
                                                "opened_at_us": 0, "last_seen_us": 1_796_000_000_000_000,
                                                "incident_ids": json.dumps(linked)}])
    store.dispose()
    log_in(browser, daemon, OPERATOR)
    browser.get(daemon.url + "/problems")
    wait(browser, EC.presence_of_element_located((By.LINK_TEXT, "PRB-900001")), "the problem in the list").click()
    omitted = wait(browser, EC.presence_of_element_located((By.ID, "linked-omitted")), "the note on earlier incidents")
    assert omitted.text == "and 10 earlier incidents."
    items = browser.find_elements(By.CSS_SELECTOR, "main ul > li")
    assert len(items) == 50  # the latest first
    assert [li.text for li in items[-4:]] == ["INC-900013", "INC-900012", "INC-900011", "INC-900010"]
    titles = {i["id"]: i["title"] for i in incidents(daemon)}
    assert items[0].find_element(By.TAG_NAME, "a").text == titles[real[-1]]
