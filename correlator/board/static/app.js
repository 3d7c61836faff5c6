// The board's shell: the session, the navigation, and which view renders a path. Each view is a
// module whose render(main, params) returns a function that stops what it started (polling).
import {canAct, currentSession, loadSession, logout} from "./api.js";
import {renderIncidents} from "./incidents.js";
import {renderIncident} from "./incident.js";
import {renderAlerts, renderAlert} from "./alerts.js";
import {renderRules} from "./rules.js";
import {renderProblems, renderProblem} from "./problems.js";

const ROUTES = [
  [/^\/(?:incidents)?$/, "incidents", renderIncidents],
  [/^\/incidents\/([^/]+)$/, "incidents", renderIncident],
  [/^\/alerts$/, "alerts", renderAlerts],
  [/^\/alerts\/([0-9a-f]{16})$/, "alerts", renderAlert],
  [/^\/rules$/, "rules", renderRules],
  [/^\/problems$/, "problems", renderProblems],
  [/^\/problems\/([^/]+)$/, "problems", renderProblem],
];

let stop = () => {};

async function show() {
  stop();
  stop = () => {};
  const main = document.getElementById("main");
  const found = ROUTES.map(([pattern, nav, render]) => [location.pathname.match(pattern), nav, render])
    .find(([match]) => match);
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (found && link.dataset.nav === found[1]) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (!found) {
    main.replaceChildren("No such page.");
    return;
  }
  const [match, , render] = found;
  stop = (await render(main, ...match.slice(1).map(decodeURIComponent))) || (() => {});
}

export function navigate(url) {
  history.pushState(null, "", url);
  show();
}

document.addEventListener("click", event => {
  const link = event.target.closest("a[href]");
  if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey
      || link.origin !== location.origin || link.target || link.pathname.startsWith("/board/static")) return;
  event.preventDefault();
  navigate(link.pathname + link.search);
  document.getElementById("main").focus();
});
window.addEventListener("popstate", show);

const session = await loadSession();
document.body.classList.toggle("read-only", !canAct());
document.getElementById("who").textContent = session.login_required
  ? (canAct() ? "operator" : "read-only") : "";
const logoutButton = document.getElementById("logout");
logoutButton.hidden = !currentSession().login_required;
logoutButton.addEventListener("click", logout);
await show();
