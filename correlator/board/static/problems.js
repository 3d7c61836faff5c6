// Problems: recurring incidents, each with the incidents it links.
import {get} from "./api.js";
import {h, replace, time, badge} from "./dom.js";

// Problems a page lists (the latest seen) and linked incidents a problem's page reads (the latest
// linked): a busy estate opens problems by the thousand over months, and one flapping cause links
// an incident a day.
const SHOWN = 200, LINKED_SHOWN = 50;

export async function renderProblems(main) {
  try {
    const {problems, next} = await get(`/api/v1/problems?limit=${SHOWN}`);
    replace(main, h("h1", {}, "Problems"),
      next ? h("p", {id: "problems-omitted"}, `The ${SHOWN} problems seen latest; older ones are in the API.`) : "",
      problems.length ? h("table", {class: "problems"},
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
    const linked = problem.incidents.slice(-LINKED_SHOWN).reverse();  // the latest first
    const incidents = await Promise.all(linked.map(incident =>
      get(`/api/v1/incidents/${encodeURIComponent(incident)}?members_limit=0&timeline_limit=0`)
        .catch(() => ({id: incident, title: incident}))));
    const earlier = problem.incidents.length - linked.length;
    replace(main, h("p", {class: "crumbs"}, h("a", {href: "/problems"}, "Problems"), " / ", problem.id),
      h("h1", {}, "Problem ", problem.id), h("p", {}, badge("state", problem.state), " ", h("code", {}, problem.signature)),
      h("p", {}, "Opened ", time(problem.opened_at), ", last seen ", time(problem.last_seen)),
      h("h2", {}, "Linked incidents"), h("ul", {}, incidents.map(incident => h("li", {},
        incident.priority ? [badge("priority", incident.priority), " "] : "",
        h("a", {href: `/incidents/${encodeURIComponent(incident.id)}`}, incident.title),
        incident.opened_at ? [" ", time(incident.opened_at)] : ""))),
      earlier ? h("p", {id: "linked-omitted"}, `and ${earlier} earlier incidents.`) : "");
  } catch (failure) {
    replace(main, h("h1", {}, "Problem ", id), h("p", {class: "error", role: "alert"}, failure.message));
  }
}
