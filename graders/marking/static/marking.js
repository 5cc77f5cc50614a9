/* Shared by every marking page: the token-carrying POST, the banner, the stale-record reload. */
var TOKEN = document.querySelector('meta[name="x-token"]').content;
function api(path, data) {
  return fetch(path, {method: "POST", headers: {"Content-Type": "application/json", "X-Token": TOKEN},
                      body: JSON.stringify(data), credentials: "same-origin"})
    .then(function (r) { return r.json().then(function (j) { return {status: r.status, body: j}; }); });
}
function banner(text) { var b = document.getElementById("banner"); b.textContent = text; b.style.display = "block"; }
function stale() {  /* someone else changed this record: show theirs, never overwrite it */
  banner("This answer was changed in another tab or by another TA; reloading to show the current marks.");
  sessionStorage.setItem("a4-banner", "Reloaded: another tab or TA had changed this answer. Apply your change again if still needed.");
  setTimeout(function () { location.reload(); }, 600);
}
(function () { var t = sessionStorage.getItem("a4-banner"); if (t) { sessionStorage.removeItem("a4-banner"); banner(t); } })();
/* PDF pages zoom on click (full width, and back). */
document.addEventListener("click", function (e) {
  if (e.target.tagName === "IMG" && e.target.classList.contains("page")) e.target.classList.toggle("zoomed");
});
