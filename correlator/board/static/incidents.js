// Incidents: the live list (open first, by priority), its filters kept in the address (a filtered
// view can be shared), counts per state, and polling with ETag so an unchanged list costs a 304.
import {getIfChanged, poll, ApiError} from "./api.js";
import {h, replace, time, ago, badge} from "./dom.js";

export const STATES = ["open", "acknowledged", "investigating", "escalated", "resolved", "closed"];
export const PRIORITIES = ["P1", "P2", "P3", "P4", "P5"];
export const CATEGORIES = ["hardware", "software", "network", "security", "capacity", "human_error"];
const ACTIVE = new Set(STATES.slice(0, 4));
const POLL_MS = 2000;
// Without a state filter the list asks for the active incidents and the latest others apart, so an
// old incident still open is never pushed out by many recent resolved ones.
const PAGES = [[STATES.slice(0, 4), 500], [STATES.slice(4), 100]];

function boardOrder(a, b) {
  return (ACTIVE.has(b.state) - ACTIVE.has(a.state)) || a.priority.localeCompare(b.priority)
    || b.opened_at.localeCompare(a.opened_at);
}

function checkboxes(name, values, chosen) {
  return h("fieldset", {class: "choices"}, h("legend", {}, name === "status" ? "State" : "Priority"),
    values.map(value => h("label", {}, h("input", {type: "checkbox", name, value,
                                                  checked: chosen.includes(value)}), value)));
}

function localInput(iso) {
  if (!iso) return "";
  const moment = new Date(iso);
  return new Date(moment - moment.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
}

function filterForm(query, onChange) {
  const chosen = name => query.getAll(name).flatMap(v => v.split(",")).filter(Boolean);
  const form = h("form", {id: "filters", class: "filters", role: "search", "aria-label": "Filter incidents"},
    checkboxes("status", STATES, chosen("status")),
    checkboxes("priority", PRIORITIES, chosen("priority")),
    h("label", {}, "Category", h("select", {name: "category"}, h("option", {value: ""}, "any"),
      CATEGORIES.map(c => h("option", {value: c, selected: query.get("category") === c}, c)))),
    h("label", {}, "Team", h("input", {name: "team", value: query.get("team") || "", size: 12})),
    h("label", {class: "wide"}, "Alert labels",
      h("input", {name: "filter", value: query.get("filter") || "", placeholder: 'cluster="prod-eu", severity=~"crit.*"'})),
    h("label", {}, "Opened since", h("input", {type: "datetime-local", name: "since", value: localInput(query.get("since"))})),
    h("label", {}, "until", h("input", {type: "datetime-local", name: "until", value: localInput(query.get("until"))})),
    h("div", {class: "buttons"}, h("button", {type: "submit"}, "Apply"),
      h("button", {type: "reset", class: "secondary"}, "Clear")));
  form.addEventListener("submit", event => { event.preventDefault(); onChange(formQuery(form)); });
  form.addEventListener("change", () => onChange(formQuery(form)));
  form.addEventListener("reset", () => setTimeout(() => onChange(formQuery(form))));
  return form;
}

function formQuery(form) {
  const query = new URLSearchParams();
  for (const name of ["status", "priority"]) {
    const values = [...form.querySelectorAll(`input[name=${name}]:checked`)].map(box => box.value);
    if (values.length) query.set(name, values.join(","));
  }
  for (const name of ["category", "team", "filter"]) {
    const value = form.elements[name].value.trim();
    if (value) query.set(name, value);
  }
  for (const name of ["since", "until"]) {
    const value = form.elements[name].value;
    if (value) query.set(name, new Date(value).toISOString());
  }
  return query;
}

function countsView(counts, query) {
  return h("ul", {class: "counts", "aria-label": "Incidents per state"}, STATES.map(state => {
    const only = new URLSearchParams(query);
    only.set("status", state);
    return h("li", {}, h("a", {href: `/incidents?${only}`, class: `count state-${state}`, dataset: {state}},
      h("strong", {}, counts.counts[state] ?? 0), " ", state));
  }));
}

function table(incidents) {
  if (!incidents.length) return h("p", {class: "empty"}, "No incident matches.");
  return h("table", {class: "incidents"},
    h("thead", {}, h("tr", {}, ["Priority", "State", "Title", "Category", "Team", "Opened", "Firing"]
      .map(name => h("th", {scope: "col"}, name)))),
    h("tbody", {}, incidents.sort(boardOrder).map(incident => h("tr", {dataset: {incidentId: incident.id}},
      h("td", {"data-label": "Priority"}, badge("priority", incident.priority)),
      h("td", {"data-label": "State", class: "state"}, badge("state", incident.state)),
      h("td", {"data-label": "Title"}, h("a", {href: `/incidents/${encodeURIComponent(incident.id)}`}, incident.title),
        h("div", {class: "muted"}, incident.id, incident.services.length ? ` · ${incident.services.join(", ")}` : "")),
      h("td", {"data-label": "Category"}, incident.category || "—"),
      h("td", {"data-label": "Team"}, incident.team || "unassigned", incident.tier ? ` (tier ${incident.tier})` : ""),
      h("td", {"data-label": "Opened"}, time(incident.opened_at), h("div", {class: "muted"}, ago(incident.opened_at))),
      h("td", {"data-label": "Firing"}, incident.firing)))));
}

export async function renderIncidents(main) {
  let query = new URLSearchParams(location.search);
  const counts = h("div", {id: "counts"});
  const list = h("div", {id: "incident-list", "aria-live": "polite"});
  const status = h("p", {class: "muted", id: "list-status"});
  let pages = [], countsTag = null;  // pages: [{path, etag, incidents}]

  function listPaths() {
    if (query.has("status")) return [`/api/v1/incidents?limit=500&${query}`];
    return PAGES.map(([states, limit]) => {
      const part = new URLSearchParams(query);
      part.set("status", states.join(","));
      return `/api/v1/incidents?limit=${limit}&${part}`;
    });
  }

  let latest = 0;  // a slower earlier refresh (other filters) must not overwrite a later one
  async function refresh() {
    const mine = ++latest;
    const countQuery = new URLSearchParams(query);
    countQuery.delete("status");
    try {
      const paths = listPaths();
      const [totals, ...answers] = await Promise.all([
        getIfChanged(`/api/v1/incidents/counts?${countQuery}`, countsTag),
        ...paths.map((path, index) => getIfChanged(path, pages[index]?.path === path ? pages[index].etag : null))]);
      if (mine !== latest) return;
      if (answers.some(answer => answer.changed)) {
        pages = answers.map((answer, index) => answer.changed
          ? {path: paths[index], etag: answer.etag, incidents: answer.body.incidents} : pages[index]);
        replace(list, table(pages.flatMap(page => page.incidents)));
      }
      if (totals.changed) { countsTag = totals.etag; replace(counts, countsView(totals.body, countQuery)); }
      status.textContent = `Updated ${new Date().toLocaleTimeString()}`;
      status.classList.remove("error");
    } catch (error) {
      status.textContent = error instanceof ApiError ? error.message : `Cannot reach the daemon: ${error.message}`;
      status.classList.add("error");
    }
  }

  // On a phone the filters fold away unless some are set.
  const filters = h("details", {class: "filter-box", open: window.innerWidth > 700 || query.size > 0},
    h("summary", {}, "Filters"), filterForm(query, next => {
      query = next;
      pages = [];
      countsTag = null;
      history.replaceState(null, "", `/incidents${next.size ? "?" + next : ""}`);
      refresh();
    }));
  replace(main, h("h1", {}, "Incidents"), filters, counts, status, list);
  await refresh();
  return poll(refresh, POLL_MS);
}
