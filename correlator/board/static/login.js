// The login form posts to /login itself; this only carries `next` and shows a failed attempt.
const query = new URLSearchParams(location.search);
document.getElementById("next").value = query.get("next") || "/";
document.getElementById("failed").hidden = query.get("failed") !== "1";
document.getElementById("token").focus();
