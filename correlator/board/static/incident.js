// One incident: every fact with its reason (priority as impact x urgency, classification with its
// confidence, each alert under the reason it joined), the timeline, and the operator's actions.
// A refused action shows the API's own error; a read-only session sees no actions.
import {get, getIfChanged, post, poll, canAct, ApiError} from "./api.js";
import {h, replace, time, badge, labels} from "./dom.js";
import {CATEGORIES, PRIORITIES} from "./incidents.js";

const SERVICE_AREAS = ["availability", "integrity", "confidentiality"];
const POLL_MS = 3000;
// Members and timeline events shown: a storm's incident holds thousands of alerts, and the page asks
// every POLL_MS. The API answers an action with as many (ACTION_RESULT_LIMIT, engine/views.py).
const SHOWN = 200;

function confidence(document, field) {
  const value = (document.classification_confidence || {})[field];
  return value === undefined ? "" : ` (confidence ${Math.round(value * 100)}%)`;
}

function explained(why) {
  if (!why) return "";
  return h("span", {}, h("strong", {}, why.reason), why.rule ? ` by ${why.rule}` : "",
    why.detail ? h("div", {class: "muted"}, why.detail) : "");
}

function facts(incident) {
  const rows = [
    ["Priority", h("span", {}, badge("priority", incident.priority),
      ` = impact ${incident.impact} × urgency ${incident.urgency}`), explained(incident.prioritisation)],
    ["Category", (incident.category || "—") + confidence(incident, "category"), explained(incident.classification)],
    ["Service area", (incident.service_area || "—") + confidence(incident, "service_area")],
    ["Services", incident.services.length ? incident.services.join(", ") : "—"],
    ["Team", `${incident.team || "unassigned"} (tier ${incident.tier})`, explained(incident.assignment)],
    ["Acknowledge by", time(incident.sla?.acknowledge_due),
      incident.acknowledged_at ? h("span", {}, "acknowledged ", time(incident.acknowledged_at)) : ""],
    ["Resolve by", time(incident.sla?.resolve_due),
      incident.resolved_at ? h("span", {}, "resolved ", time(incident.resolved_at)) : ""],
    ["Opened", time(incident.opened_at)],
    ["Problem", incident.problem ? h("a", {href: `/problems/${encodeURIComponent(incident.problem)}`}, incident.problem) : "—"],
  ];
  if (incident.tickets && incident.tickets.length) {
    rows.push(["Tickets", h("ul", {class: "tickets"}, incident.tickets.map(ticket => h("li", {},
      `${ticket.destination}${ticket.type ? ` (${ticket.type})` : ""}: `,
      /^https?:\/\//.test(ticket.url || "") ? h("a", {href: ticket.url, rel: "noopener noreferrer", target: "_blank"}, ticket.key)
        : ticket.key)))]);
  }
  return h("dl", {class: "facts"}, rows.map(([name, value, why]) =>
    h("div", {}, h("dt", {}, name), h("dd", {}, value, why ? h("div", {class: "why"}, why) : ""))));
}

// Joins the engine made on learned evidence rather than a rule of the files (learning/joiner.py).
const LEARNED_RULES = new Set(["learned", "quiet entity", "storm"]);

function joinGroup(member) {
  const why = member.why || {reason: "unknown", rule: ""};
  if (LEARNED_RULES.has(why.rule)) return `learned evidence (${why.reason}, ${why.rule}): score and evidence below`;
  return why.rule ? `${why.reason}: rule ${why.rule}` : why.reason;
}

function members(incident, splitting) {
  const groups = new Map();
  for (const member of incident.members) {
    const key = joinGroup(member);
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(member);
  }
  return h("section", {"aria-labelledby": "alerts-title"}, h("h2", {id: "alerts-title"}, `Alerts (${incident.alerts})`),
    incident.members_omitted ? h("p", {class: "muted", id: "members-omitted"},
      `The first ${incident.members.length} of ${incident.alerts} alerts, in the order they joined.`) : "",
    [...groups].map(([key, group]) => h("div", {class: "join-group"},
      h("h3", {}, "Joined by ", key),
      group[0].why?.detail && !group[0].why.rule ? h("p", {class: "muted"}, group[0].why.detail) : "",
      h("ul", {class: "members"}, group.map(member => h("li", {class: `member status-${member.status}`},
        splitting ? h("input", {type: "checkbox", name: "split", value: member.fingerprint,
                                "aria-label": `split out ${member.fingerprint}`}) : "",
        h("a", {href: `/alerts/${member.fingerprint}`}, member.labels.alertname || member.fingerprint),
        " ", badge("status", member.status), " ", h("span", {class: "muted"}, "since "), time(member.startsAt),
        member.why?.rule && member.why.detail ? h("div", {class: "muted"}, member.why.detail) : "",
        labels(member.labels)))))));
}

function timeline(incident) {
  return h("section", {"aria-labelledby": "timeline-title"}, h("h2", {id: "timeline-title"}, "Timeline"),
    incident.timeline_omitted ? h("p", {class: "muted", id: "timeline-omitted"},
      `The latest ${incident.timeline.length} events; ${incident.timeline_omitted} earlier ones are not shown.`) : "",
    h("ol", {class: "timeline", id: "timeline"}, [...incident.timeline].reverse().map(event => h("li", {dataset: {kind: event.kind}},
      time(event.at), " ", h("strong", {}, event.kind), event.actor ? ` by ${event.actor}` : "",
      Object.keys(event.detail || {}).length ? h("div", {class: "muted"}, Object.entries(event.detail)
        .map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`).join(" · ")) : ""))));
}

function field(label, control) {
  return h("label", {}, label, control);
}

function actions(incident, act) {
  const form = (name, title, controls, body) => {
    const element = h("form", {class: "action", dataset: {action: name}}, h("h3", {}, title), controls,
      h("button", {type: "submit"}, title));
    element.addEventListener("submit", event => { event.preventDefault(); act(name, body(element.elements)); });
    return element;
  };
  const button = (name, title) => h("button", {type: "button", dataset: {action: name},
                                                onclick: () => act(name, {})}, title);
  const select = (name, values, current) => h("select", {name}, values.map(v => h("option", {value: v, selected: v === current}, v)));
  return h("section", {class: "actions", "aria-labelledby": "actions-title"}, h("h2", {id: "actions-title"}, "Actions"),
    h("div", {class: "buttons"}, button("acknowledge", "Acknowledge"), button("investigate", "Investigate"),
      button("resolve", "Resolve"), button("reopen", "Reopen"), button("close", "Close")),
    h("div", {class: "forms"},
      form("comment", "Comment", field("Text", h("textarea", {name: "text", rows: 2, required: true})),
        e => ({text: e.text.value})),
      form("assign", "Assign", [field("Team", h("input", {name: "team", required: true})),
        field("Tier", h("input", {name: "tier", type: "number", min: 1}))],
        e => ({team: e.team.value, ...(e.tier.value ? {tier: Number(e.tier.value)} : {})})),
      form("priority", "Change priority", [field("Priority", select("priority", PRIORITIES, incident.priority)),
        field("Reason", h("input", {name: "reason", required: true}))],
        e => ({priority: e.priority.value, reason: e.reason.value})),
      form("classify", "Reclassify", [field("Category", select("category", CATEGORIES, incident.category)),
        field("Service area", select("service_area", SERVICE_AREAS, incident.service_area)),
        field("Reason", h("input", {name: "reason", required: true}))],
        e => ({category: e.category.value, service_area: e.service_area.value, reason: e.reason.value})),
      form("escalate", "Escalate", [field("To team (else one tier up)", h("input", {name: "team"})),
        field("Reason", h("input", {name: "reason"}))],
        e => ({...(e.team.value ? {team: e.team.value} : {}), reason: e.reason.value})),
      form("merge", "Merge", field("Merge this other incident into this one", h("input", {name: "other_id", required: true,
        placeholder: "incident id"})), e => ({other_id: e.other_id.value.trim()})),
      form("split", "Split", h("p", {class: "muted"}, "Tick the alerts to move into a new incident, in the list below."),
        () => ({fingerprints: [...document.querySelectorAll("input[name=split]:checked")].map(box => box.value)}))));
}

export async function renderIncident(main, id) {
  const error = h("div", {id: "action-error", class: "error", role: "alert", tabindex: "-1", hidden: true});
  const done = h("p", {id: "action-done", class: "muted", "aria-live": "polite"});
  const detailPath = `/api/v1/incidents/${encodeURIComponent(id)}?members_limit=${SHOWN}&timeline_limit=${SHOWN}`;
  let incident, etag;
  let editing = false;

  function show() {
    const link = `${location.origin}/incidents/${encodeURIComponent(incident.id)}`;
    replace(main,
      h("p", {class: "crumbs"}, h("a", {href: "/incidents"}, "Incidents"), " / ", incident.id),
      h("h1", {}, incident.title),
      h("p", {class: "headline"}, badge("state", incident.state), " ", badge("priority", incident.priority),
        " ", h("a", {href: link, class: "permalink", title: "Link to paste into a ticket or chat"}, link)),
      error, done, facts(incident),
      h("div", {class: "incident-layout"},
        h("div", {}, members(incident, canAct()), timeline(incident)),
        h("aside", {}, canAct() ? actions(incident, act)
          : h("p", {class: "muted", id: "read-only-note"}, "Read-only: you can see, not act."))));
  }

  async function act(name, body) {
    if (name === "classify" && body.reason) {
      // Classify has no reason field: the reason goes on the timeline as a comment, after the change.
      const {reason, ...change} = body;
      await act("classify-only", change);
      if (error.hidden) await act("comment", {text: `reclassified: ${reason}`});
      return;
    }
    const path = name === "classify-only" ? "classify" : name;
    error.hidden = true;
    done.textContent = "";
    try {
      const result = await post(`/api/v1/incidents/${encodeURIComponent(id)}/${path}`, body);
      incident = result.id === id ? result : await get(detailPath);
      show();
      done.textContent = `${path}: done`;
      if (name === "split") {
        const split = incident.timeline.filter(e => e.kind === "split").pop();
        if (split?.detail?.into) done.replaceChildren(`${path}: done; the alerts are now in `,
          h("a", {href: `/incidents/${encodeURIComponent(split.detail.into)}`}, split.detail.into));
      }
    } catch (failure) {
      error.textContent = failure instanceof ApiError ? `The API refused ${path} (${failure.status}): ${failure.message}`
        : `Cannot reach the daemon: ${failure.message}`;
      error.hidden = false;
      error.focus();
    }
  }

  try {
    ({etag, body: incident} = await getIfChanged(detailPath));
  } catch (failure) {
    replace(main, h("h1", {}, "Incident ", id), h("p", {class: "error", role: "alert"}, failure.message));
    return;
  }
  show();
  main.addEventListener("focusin", () => { editing = true; });
  main.addEventListener("focusout", () => { editing = false; });
  // Changes made elsewhere (the engine, other operators) appear while nobody is typing here.
  return poll(async () => {
    if (editing) return;
    try {
      const fresh = await getIfChanged(detailPath, etag);
      if (fresh.changed) { ({etag, body: incident} = fresh); show(); }
    } catch { /* shown on the next action or reload */ }
  }, POLL_MS);
}
