/* The question view: keys j/k (arrows), n, 1-9 and 0, c, m, and the rubric, comment and page boxes. */
var S = JSON.parse(document.getElementById("state").textContent);
function show(mark, progress) {
  S.mark = mark;
  var score = document.getElementById("score");
  score.textContent = mark.score === null ? "unmarked" : String(mark.score);
  score.className = "score" + (mark.score === null ? " unmarked" : "");
  document.querySelectorAll("#rubric li").forEach(function (li) {
    li.classList.toggle("applied", mark.applied.indexOf(li.dataset.entry) >= 0);
  });
  if (mark.manual === null) document.getElementById("manual").value = "";
  if (progress) {
    document.getElementById("progress").textContent = progress[0] + "/" + progress[1];
    var nav = document.querySelector("#nav-" + S.item + " .progress"); if (nav) nav.textContent = progress[0] + "/" + progress[1];
  }
  document.getElementById("saved").textContent = "saved";
}
function change(fields) {
  var data = Object.assign({item: S.item, student: S.student, version: S.mark.version}, fields);
  document.getElementById("saved").textContent = "saving…";
  return api("/api/mark", data).then(function (r) {
    if (r.status === 409) return stale();
    if (r.status !== 200) { banner("Not saved: " + (r.body.error || r.status)); return; }
    show(r.body.mark, r.body.progress);
  }).catch(function (e) { banner("Not saved (is grade.py mark still running?): " + e); });
}
function toggle(entry) { return change({toggle: entry}); }
document.querySelectorAll("#rubric li").forEach(function (li) {
  li.addEventListener("click", function (event) {
    if (event.target.tagName !== "INPUT" && event.target.tagName !== "BUTTON") toggle(li.dataset.entry); });
  li.querySelector("button.edit-text").addEventListener("click", function () {
    var text = prompt("Rubric entry text (changes it for every student)", S.entries[Array.prototype.indexOf.call(li.parentNode.children, li)].text);
    if (text === null || !text.trim()) return;
    api("/api/rubric", {item: S.item, entry: li.dataset.entry, version: Number(li.dataset.version), text: text})
      .then(function (r) { if (r.status === 409) return stale(); location.reload(); });
  });
  var points = li.querySelector("input.points");
  points.addEventListener("change", function () {
    if (points.value === "" || isNaN(Number(points.value))) return;
    api("/api/rubric", {item: S.item, entry: li.dataset.entry, version: Number(li.dataset.version), points: points.value})
      .then(function (r) {
        if (r.status === 409) return stale();
        if (r.status !== 200) { banner("Not saved: " + (r.body.error || r.status)); return; }
        sessionStorage.setItem("a4-banner", "Entry now " + r.body.entry.points + " points; " + r.body.rescored.length + " answer(s) re-scored.");
        location.reload();
      });
  });
});
document.getElementById("add-entry").addEventListener("click", function () {
  api("/api/rubric/add", {item: S.item, points: document.getElementById("new-points").value,
                          text: document.getElementById("new-text").value}).then(function () { location.reload(); });
});
var comment = document.getElementById("comment"), commentTimer = null;
function saveComment() { clearTimeout(commentTimer); commentTimer = null;
  if (comment.value !== S.mark.comment) return change({comment: comment.value}); return Promise.resolve(); }
comment.addEventListener("input", function () { clearTimeout(commentTimer); commentTimer = setTimeout(saveComment, 700); });
comment.addEventListener("blur", saveComment);
document.getElementById("manual").addEventListener("change", function (e) { change({manual: e.target.value}); });
document.querySelectorAll(".page-box").forEach(function (box) {
  box.addEventListener("change", function () {
    var pages = Object.assign({}, S.pages);
    pages[S.item] = Array.prototype.slice.call(document.querySelectorAll(".page-box:checked")).map(function (b) { return Number(b.value); });
    api("/api/student", {student: S.student, version: S.notes_version, pages: pages}).then(function (r) {
      if (r.status === 409) return stale();
      location.reload();
    });
  });
});
function go(id) { var a = document.getElementById(id); if (a) { var p = commentTimer ? saveComment() : Promise.resolve(); p.then(function () { location.href = a.href; }); } }
document.addEventListener("keydown", function (e) {
  var tag = e.target.tagName;
  if (tag === "TEXTAREA" || tag === "INPUT") { if (e.key === "Escape") e.target.blur(); return; }
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.key === "j" || e.key === "ArrowRight" || e.key === "ArrowDown") { e.preventDefault(); go("next"); }
  else if (e.key === "k" || e.key === "ArrowLeft" || e.key === "ArrowUp") { e.preventDefault(); go("prev"); }
  else if (e.key === "n") go("next-unmarked");
  else if (e.key === "c") { e.preventDefault(); comment.focus(); }
  else if (e.key === "m") { e.preventDefault(); document.getElementById("manual").focus(); }
  else if (/^[0-9]$/.test(e.key)) {
    var n = e.key === "0" ? 10 : Number(e.key), li = document.querySelectorAll("#rubric li")[n - 1];
    if (li) toggle(li.dataset.entry);
  }
});
document.body.dataset.ready = "yes";  /* keys work from here on (tests wait for it) */
