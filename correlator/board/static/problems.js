// Problems: recurring incidents, each with the incidents it links.
import {get} from "./api.js";
import {h, replace, time, badge} from "./dom.js";

export async function renderProblems(main) {
  try {
    const {problems} = await get("/api/v1/problems");
    replace(main, h("h1", {}, "Problems"), problems.length ? h("table", {class: "problems"},
      h("thead", {}, h("tr", {}, ["Problem", "State", "Signature", "Incidents", "Last seen"].map(n => h("th", {scope: "col"}, n)))),
      h("tbody", {}, problems.map(problem => h("tr", {},
        h("td", {"data-label": "Problem"}, h("a", {href: `/problems/${encodeURIComponent(problem.id)}`}, problem.id)),
        h("td", {"data-label": "State"}, badge("state", problem.state)),
        h("td", {"data-label": "Signature"}, h("code", {}, problem.signature)),
        h("td", {"data-label": "Incidents"}, problem.incidents.length),
        h("td", {"data-label": "Last seen"}, time(problem.last_seen))))))
      : h("p", {class: "empty"}, "No recurring incidents."));
  } catch (failure) {
    replace(main, h("h1", {}, "Problems"), h("p", {class: "error", role: "alert"}, failure.message));
  }
}

export async function renderProblem(main, id) {
  try {
    const problem = await get(`/api/v1/problems/${encodeURIComponent(id)}`);
    const incidents = await Promise.all(problem.incidents.map(incident =>
      get(`/api/v1/incidents/${encodeURIComponent(incident)}`).catch(() => ({id: incident, title: incident}))));
    replace(main, h("p", {class: "crumbs"}, h("a", {href: "/problems"}, "Problems"), " / ", problem.id),
      h("h1", {}, "Problem ", problem.id), h("p", {}, badge("state", problem.state), " ", h("code", {}, problem.signature)),
      h("p", {}, "Opened ", time(problem.opened_at), ", last seen ", time(problem.last_seen)),
      h("h2", {}, "Linked incidents"), h("ul", {}, incidents.map(incident => h("li", {},
        incident.priority ? [badge("priority", incident.priority), " "] : "",
        h("a", {href: `/incidents/${encodeURIComponent(incident.id)}`}, incident.title),
        incident.opened_at ? [" ", time(incident.opened_at)] : ""))));
  } catch (failure) {
    replace(main, h("h1", {}, "Problem ", id), h("p", {class: "error", role: "alert"}, failure.message));
  }
}
