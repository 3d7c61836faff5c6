// Alerts: stored alerts searched by Alertmanager matchers; one alert's episodes and its incidents.
import {get, ApiError} from "./api.js";
import {h, replace, time, badge, labels} from "./dom.js";

export async function renderAlerts(main) {
  const query = new URLSearchParams(location.search);
  const results = h("div", {id: "alert-results", "aria-live": "polite"});
  const input = h("input", {name: "filter", id: "alert-filter", value: query.get("filter") || "",
                            placeholder: 'alertname="HighCPU", cluster=~"prod.*"'});
  const status = h("select", {name: "status"}, ["", "firing", "resolved"].map(value =>
    h("option", {value, selected: query.get("status") === value}, value || "any")));
  const form = h("form", {class: "filters", role: "search", "aria-label": "Search alerts"},
    h("label", {class: "wide"}, "Label matchers", input), h("label", {}, "Status", status),
    h("div", {class: "buttons"}, h("button", {type: "submit"}, "Search")));

  let latest = 0;  // a slower earlier search must not overwrite a later one's results
  async function search() {
    const mine = ++latest;
    const params = new URLSearchParams({limit: "200"});
    if (input.value.trim()) params.set("filter", input.value.trim());
    if (status.value) params.set("status", status.value);
    try {
      const page = await get(`/api/v1/alerts?${params}`);
      if (mine !== latest) return;
      replace(results, page.alerts.length ? h("table", {class: "alerts"},
        h("thead", {}, h("tr", {}, ["Alert", "Status", "Labels", "Started", "Last seen"].map(n => h("th", {scope: "col"}, n)))),
        h("tbody", {}, page.alerts.map(alert => h("tr", {},
          h("td", {"data-label": "Alert"}, h("a", {href: `/alerts/${alert.fingerprint}`}, alert.labels.alertname || alert.fingerprint)),
          h("td", {"data-label": "Status"}, badge("status", alert.status)),
          h("td", {"data-label": "Labels"}, labels(alert.labels)),
          h("td", {"data-label": "Started"}, time(alert.startsAt)),
          h("td", {"data-label": "Last seen"}, time(alert.lastSeen))))))
        : h("p", {class: "empty"}, "No stored alert matches."));
    } catch (failure) {
      if (mine !== latest) return;
      replace(results, h("p", {class: "error", role: "alert"}, failure instanceof ApiError ? failure.message : String(failure)));
    }
  }
  form.addEventListener("submit", event => {
    event.preventDefault();
    const shown = new URLSearchParams();
    if (input.value.trim()) shown.set("filter", input.value.trim());
    if (status.value) shown.set("status", status.value);
    history.replaceState(null, "", `/alerts${shown.size ? "?" + shown : ""}`);
    search();
  });
  replace(main, h("h1", {}, "Alerts"), form, results);
  await search();
}

export async function renderAlert(main, fingerprint) {
  let history_;
  try {
    history_ = await get(`/api/v1/alerts/${fingerprint}/history`);
  } catch (failure) {
    replace(main, h("h1", {}, "Alert ", fingerprint), h("p", {class: "error", role: "alert"}, failure.message));
    return;
  }
  const latest = history_.episodes[0];
  replace(main,
    h("p", {class: "crumbs"}, h("a", {href: "/alerts"}, "Alerts"), " / ", fingerprint),
    h("h1", {}, latest ? latest.labels.alertname || fingerprint : fingerprint),
    latest ? labels(latest.labels) : "",
    h("section", {}, h("h2", {}, "Incidents it belonged to"),
      history_.incidents.length ? h("ul", {id: "alert-incidents"}, history_.incidents.map(incident => h("li", {},
        badge("priority", incident.priority), " ", h("a", {href: `/incidents/${encodeURIComponent(incident.id)}`}, incident.title),
        " ", badge("state", incident.state), h("span", {class: "muted"}, " episode of "), time(incident.startsAt))))
        : h("p", {class: "empty"}, "None (held below a group's minimum, or in maintenance).")),
    h("section", {}, h("h2", {}, "Episodes"),
      h("table", {class: "episodes"}, h("thead", {}, h("tr", {}, ["Started", "Ended", "Status", "Notifications", "Source"]
        .map(n => h("th", {scope: "col"}, n)))),
        h("tbody", {}, history_.episodes.map(episode => h("tr", {},
          h("td", {"data-label": "Started"}, time(episode.startsAt)), h("td", {"data-label": "Ended"}, time(episode.endsAt)),
          h("td", {"data-label": "Status"}, badge("status", episode.status), episode.flapping ? " flapping" : ""),
          h("td", {"data-label": "Notifications"}, episode.notifications),
          h("td", {"data-label": "Source"}, episode.source)))))));
}
