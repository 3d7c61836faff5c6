// Rules: the rules in force, the last reload with its file:line errors, and a check of a rule file
// against recent alerts before it is saved.
import {get, post, canAct, ApiError} from "./api.js";
import {h, replace} from "./dom.js";

const EXAMPLE = `version: 1
rules:
  - name: checkout-by-cluster
    kind: group
    matchers: ['service="checkout"']
    group_by: [cluster]
`;

function checkResult(result) {
  if (!result.valid) {
    return h("div", {class: "error", role: "alert"}, h("p", {}, "The file does not load:"),
      h("ul", {}, result.errors.map(e => h("li", {}, h("code", {}, e.path), " ", e.reason))));
  }
  return h("div", {}, h("p", {}, `Valid: rules ${result.rules.join(", ") || "(none)"}; run over ${result.alerts_checked} recent alerts.`),
    result.incidents.length ? h("ul", {class: "checked"}, result.incidents.map(incident => h("li", {},
      h("strong", {}, incident.title), ` — ${incident.priority}, ${incident.state}, ${incident.alerts} alerts, team ${incident.team}`,
      h("ul", {}, incident.decisions.map(d => h("li", {}, d))))))
      : h("p", {class: "muted"}, "Its rules decided nothing about those alerts."));
}

export async function renderRules(main) {
  let rules;
  try {
    rules = await get("/api/v1/rules");
  } catch (failure) {
    replace(main, h("h1", {}, "Rules"), h("p", {class: "error", role: "alert"}, failure.message));
    return;
  }
  const last = rules.last_reload;
  const result = h("div", {id: "check-result", "aria-live": "polite"});
  const name = h("input", {name: "name", value: "draft.yaml", required: true});
  const content = h("textarea", {name: "content", rows: 10, spellcheck: "false", class: "code"}, EXAMPLE);
  const form = h("form", {id: "rule-check", class: "card"}, h("h2", {}, "Check a rule file"),
    h("p", {class: "muted"}, "Checks the file beside the rules in force and runs it over recent alerts; nothing is saved."),
    h("label", {}, "File name (replaces the file of that name, or joins them)", name),
    h("label", {}, "Rule file", content), h("button", {type: "submit"}, "Check"), result);
  form.addEventListener("submit", async event => {
    event.preventDefault();
    try {
      replace(result, checkResult(await post("/api/v1/rules/check", {name: name.value, content: content.value})));
    } catch (failure) {
      replace(result, h("p", {class: "error", role: "alert"}, failure instanceof ApiError ? failure.message : String(failure)));
    }
  });
  const reloaded = h("div", {id: "reload-result", "aria-live": "polite"});
  const reload = h("button", {type: "button", id: "reload", onclick: async () => {
    try {
      const answer = await post("/api/v1/rules/reload", {});
      replace(reloaded, h("p", {}, answer.status === "reloaded"
        ? `Reloaded: ${answer.rules} rules from ${answer.files.length} files.` : "Requested: the engine will take the files."));
    } catch (failure) {
      replace(reloaded, h("div", {class: "error", role: "alert"}, failure instanceof ApiError ? failure.message : String(failure)));
    }
  }}, "Reload the rule files");
  replace(main, h("h1", {}, "Rules"),
    h("section", {}, h("h2", {}, "Last reload"),
      h("p", {id: "last-reload"}, `${last.outcome} (${last.trigger}) at ${new Date(last.at * 1000).toLocaleString()}`),
      last.errors.length ? h("ul", {class: "error"}, last.errors.map(e => h("li", {}, h("code", {}, e.path), " ", e.reason))) : "",
      canAct() ? [reload, reloaded] : ""),
    h("section", {}, h("h2", {}, `In force: ${rules.rules} rules from ${rules.files.length} files`),
      h("table", {class: "rules"}, h("thead", {}, h("tr", {}, ["Name", "Kind", "Description"].map(n => h("th", {scope: "col"}, n)))),
        h("tbody", {}, (rules.in_force || []).map(rule => h("tr", {},
          h("td", {"data-label": "Name"}, h("code", {}, rule.name)), h("td", {"data-label": "Kind"}, rule.kind),
          h("td", {"data-label": "Description"}, rule.description)))))),
    canAct() ? form : "");
}
