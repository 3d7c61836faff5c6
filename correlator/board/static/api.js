// The board's one way to the API: the session cookie travels by itself; writes carry the session's
// CSRF token. An error answer becomes an ApiError holding the API's own message and details.

let session = {role: "reader", csrf_token: "", login_required: true};

export class ApiError extends Error {
  constructor(status, body) {
    const details = (body && body.details) || [];
    const text = (body && body.error) || `HTTP ${status}`;
    super(details.length ? `${text}: ${details.map(d => `${d.path}: ${d.reason}`).join("; ")}` : text);
    this.status = status;
    this.body = body;
  }
}

export async function loadSession() {
  const response = await fetch("/board/session", {credentials: "same-origin"});
  if (response.status === 401) {
    location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
    throw new ApiError(401, {error: "log in first"});
  }
  session = await response.json();
  return session;
}

export const canAct = () => session.role === "operator";
export const currentSession = () => session;

async function answer(response) {
  if (response.status === 401) {
    location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
  }
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = {error: text}; }
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

export async function get(path) {
  return answer(await fetch(path, {credentials: "same-origin"}));
}

// A GET that tells whether anything changed since the last answer (ETag / 304).
export async function getIfChanged(path, etag) {
  const headers = etag ? {"If-None-Match": etag} : {};
  const response = await fetch(path, {credentials: "same-origin", headers, cache: "no-store"});
  if (response.status === 304) return {changed: false, etag};
  return {changed: true, etag: response.headers.get("ETag"), body: await answer(response)};
}

export async function post(path, body) {
  const response = await fetch(path, {
    method: "POST", credentials: "same-origin", body: JSON.stringify(body ?? {}),
    headers: {"Content-Type": "application/json", "X-CSRF-Token": session.csrf_token},
  });
  const result = await answer(response);
  if (response.status === 202) {
    return waitForAction(result.result_url);
  }
  return result;
}

// Runs `task` every `ms` after its previous run has finished, until the returned function is
// called: an answer slower than `ms` (a large store) delays the next poll instead of piling
// requests up on the daemon, as an interval would.
export function poll(task, ms) {
  let stopped = false, timer;
  const next = () => {
    if (!stopped) timer = setTimeout(async () => { try { await task(); } finally { next(); } }, ms);
  };
  next();
  return () => { stopped = true; clearTimeout(timer); };
}

// An action the engine has not applied within the API's wait: its result, polled a bounded number of times.
async function waitForAction(url) {
  for (let attempt = 0; attempt < 40; attempt++) {
    await new Promise(resolve => setTimeout(resolve, 250));
    const state = await get(url);
    if (state.status !== "pending") {
      if (state.http_status >= 400) throw new ApiError(state.http_status, state.result);
      return state.result;
    }
  }
  throw new ApiError(202, {error: "the action is stored but the engine has not applied it yet; reload later"});
}

export async function logout() {
  await fetch("/logout", {method: "POST", credentials: "same-origin",
                          headers: {"X-CSRF-Token": session.csrf_token}});
  location.assign("/login");
}
