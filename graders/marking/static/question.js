/* The question view: keys j/k (arrows), n, 1-9 and 0, c, m, and the rubric, comment and page boxes. */
var S = JSON.parse(document.getElementById("state").textContent);
var comment = document.getElementById("comment"), commentTimer = null;
/* Every change goes through one queue, sent in order, one request at a time, each with the version
   of the previous reply. Rubric keys are sent as the wanted state ("apply e1" / "remove e1"), so a
   change the server merges on a newer record (another tab, another TA) is never undone or doubled.
   A comment is sent with the stored text it was typed on (commentBase): if another TA changed the
   comment meanwhile, the server refuses (409) and both texts stay on screen to merge. */
var queue = [], busy = false, want = S.mark.applied.slice(), commentBase = S.mark.comment;
var DRAFT = "a4-draft:" + S.item + ":" + S.student;
function pending() { return busy || queue.length > 0 || commentTimer !== null; }
function paint(progress) {
  var mark = S.mark, score = document.getElementById("score");
  score.textContent = mark.score === null ? "unmarked" : String(mark.score);
  score.className = "score" + (mark.score === null ? " unmarked" : "");
  document.querySelectorAll("#rubric li").forEach(function (li) {
    li.classList.toggle("applied", want.indexOf(li.dataset.entry) >= 0);
  });
  if (progress) {
    document.getElementById("progress").textContent = progress[0] + "/" + progress[1];
    var nav = document.querySelector("#nav-" + S.item + " .progress"); if (nav) nav.textContent = progress[0] + "/" + progress[1];
  }
  document.getElementById("saved").textContent = pending() ? "saving…" : "saved";
}
function received(mark, progress) {
  S.mark = mark;
  if (!queue.some(function (op) { return op.apply || op.remove; })) want = mark.applied.slice();
  if (mark.manual === null && !queue.some(function (op) { return "manual" in op; })) document.getElementById("manual").value = "";
  if (mark.comment !== commentBase) {       /* someone else's comment arrived with a merged change */
    if (comment.value === commentBase && commentTimer === null) { comment.value = mark.comment; commentBase = mark.comment; }
    else if (comment.value !== mark.comment) conflict(mark.comment);
    else commentBase = mark.comment;
  }
  paint(progress);
}
function send() {
  if (busy || !queue.length) return;
  busy = true;
  var op = queue.shift();
  var data = Object.assign({item: S.item, student: S.student, version: S.mark.version}, op);
  if ("comment" in op) data.base_comment = commentBase;
  if ("manual" in op) data.base_manual = S.mark.manual;
  api("/api/mark", data).then(function (r) {
    busy = false;
    if (r.status === 409) {
      S.mark = r.body.current;
      if ("comment" in op) conflict(r.body.current.comment);
      else if ("manual" in op) banner("Not saved: another TA set the manual mark to " + r.body.current.manual + " meanwhile; yours (" + op.manual + ") is still in the box.");
      else queue.unshift(op);               /* cannot happen for apply/remove; retried on the new version */
      received(r.body.current, null);
    } else if (r.status !== 200) {
      banner("Not saved: " + (r.body.error || r.status));
    } else {
      if ("comment" in op) { commentBase = op.comment; if (comment.value === op.comment) sessionStorage.removeItem(DRAFT); }
      if (r.body.merged) document.getElementById("merged").textContent = "merged with another TA's change";
      received(r.body.mark, r.body.progress);
    }
    send(); settle();
  }).catch(function (e) {
    busy = false; queue.unshift(op);
    banner("Not saved yet (is grade.py mark still running?): " + e + ". Retrying in 2 s; nothing is lost while this page stays open.");
    setTimeout(send, 2000);
  });
  paint(null);
}
var waiters = [];
function settle() { if (!pending()) { var w = waiters; waiters = []; w.forEach(function (f) { f(); }); } }
function flushed() { return new Promise(function (resolve) { waiters.push(resolve); settle(); }); }
function change(fields) { queue.push(fields); send(); paint(null); }
function toggle(entry) {
  var on = want.indexOf(entry) < 0;
  want = on ? want.concat([entry]) : want.filter(function (e) { return e !== entry; });
  change(on ? {apply: [entry]} : {remove: [entry]});
}
/* Another TA saved a different comment: keep the TA's text, show theirs beside it, offer merges. */
function conflict(theirs) {
  var box = document.getElementById("comment-conflict");
  document.getElementById("their-comment").textContent = theirs;
  box.dataset.theirs = theirs; box.hidden = false;
  document.getElementById("saved").textContent = "not saved: comment conflict";
}
function resolve(text) {
  var box = document.getElementById("comment-conflict");
  commentBase = box.dataset.theirs; box.hidden = true;
  comment.value = text; draft(); saveComment();
}
document.getElementById("keep-both").addEventListener("click", function () {
  var theirs = document.getElementById("comment-conflict").dataset.theirs;
  resolve(theirs && comment.value ? theirs + "\n\n" + comment.value : theirs + comment.value);
});
document.getElementById("keep-mine").addEventListener("click", function () { resolve(comment.value); });
document.getElementById("keep-theirs").addEventListener("click", function () {
  resolve(document.getElementById("comment-conflict").dataset.theirs); });
document.querySelectorAll("#rubric li").forEach(function (li) {
  li.addEventListener("click", function (event) {
    if (event.target.tagName !== "INPUT" && event.target.tagName !== "BUTTON") toggle(li.dataset.entry); });
  li.querySelector("button.edit-text").addEventListener("click", function () {
    var text = prompt("Rubric entry text (changes it for every student)", S.entries[Array.prototype.indexOf.call(li.parentNode.children, li)].text);
    if (text === null || !text.trim()) return;
    api("/api/rubric", {item: S.item, entry: li.dataset.entry, version: Number(li.dataset.version), text: text})
      .then(function (r) { if (r.status === 409) return stale(); location.reload(); });
  });
  li.querySelector("button.move-up").addEventListener("click", function () {
    var ids = Array.prototype.map.call(document.querySelectorAll("#rubric li"), function (x) { return x.dataset.entry; });
    var at = ids.indexOf(li.dataset.entry); if (at < 1) return;
    ids.splice(at, 1); ids.splice(at - 1, 0, li.dataset.entry);
    flushed().then(function () { return api("/api/rubric/order", {item: S.item, order: ids}); }).then(function (r) {
      if (r.status !== 200) { banner("Not moved: " + (r.body.error || r.status)); return; }
      location.reload(); });
  });
  li.querySelector("button.delete-entry").addEventListener("click", function () {
    flushed().then(function () {
      return api("/api/rubric/delete", {item: S.item, entry: li.dataset.entry, version: Number(li.dataset.version)});
    }).then(function (r) {
      if (r.status !== 200) { banner("Not deleted: " + (r.body.error || r.status)); return; }
      location.reload(); });
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
                          text: document.getElementById("new-text").value}).then(function (r) {
    if (r.status !== 200) { banner("Entry not added: " + (r.body.error || r.status)); return; }
    location.reload(); });
});
function draft() {
  if (comment.value === commentBase) sessionStorage.removeItem(DRAFT);
  else sessionStorage.setItem(DRAFT, JSON.stringify({text: comment.value, base: commentBase}));
}
function saveComment() {
  clearTimeout(commentTimer); commentTimer = null;
  if (!document.getElementById("comment-conflict").hidden) return;
  if (comment.value !== commentBase && !queue.some(function (op) { return op.comment === comment.value; })) {
    queue = queue.filter(function (op) { return !("comment" in op); });
    change({comment: comment.value});
  } else settle();
}
comment.addEventListener("input", function () { draft(); clearTimeout(commentTimer); commentTimer = setTimeout(saveComment, 700); paint(null); });
comment.addEventListener("blur", saveComment);
paint(null);   /* a page just served holds nothing unsaved: "saved" (restoring a draft below may change it) */
(function restore() {   /* a comment typed before a reload or a crash comes back */
  var saved = sessionStorage.getItem(DRAFT); if (!saved) return;
  var d = JSON.parse(saved);
  if (d.text === S.mark.comment) { sessionStorage.removeItem(DRAFT); paint(null); return; }   /* it arrived: saved */
  comment.value = d.text;
  if (d.base === S.mark.comment) saveComment(); else conflict(S.mark.comment);
  banner("Restored the comment you were typing before the page was left.");
})();
window.addEventListener("beforeunload", function (e) {
  if (pending() || !document.getElementById("comment-conflict").hidden) { e.preventDefault(); e.returnValue = ""; }
});
window.addEventListener("pagehide", function () {   /* a last try for text typed < 0.7 s ago */
  if (commentTimer !== null && document.getElementById("comment-conflict").hidden) {
    fetch("/api/mark", {method: "POST", keepalive: true, credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-Token": TOKEN},
      body: JSON.stringify({item: S.item, student: S.student, version: S.mark.version, comment: comment.value, base_comment: commentBase})});
  }
});
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
function go(id) {   /* leave only once every change is saved */
  var a = document.getElementById(id); if (!a) return;
  if (commentTimer !== null) saveComment();
  flushed().then(function () { if (document.getElementById("comment-conflict").hidden) location.href = a.href; });
}
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
/* Answer groups: one POST changes every member (each keeps its own record); conflicts are listed. */
document.querySelectorAll("#groups .group").forEach(function (g) {
  var students = JSON.parse(g.dataset.students), out = g.querySelector(".group-result");
  function post(fields) {
    out.textContent = "saving…";
    api("/api/group", Object.assign({item: S.item, students: students}, fields)).then(function (r) {
      if (r.status !== 200) { out.textContent = "Not saved: " + (r.body.error || r.status); return; }
      var problems = Object.keys(r.body.conflicts).map(function (sid) { return sid + ": " + r.body.conflicts[sid]; });
      out.textContent = Object.keys(r.body.done).length + " answer(s) changed" + (problems.length ? "; left alone: " + problems.join("; ") : "");
      if (r.body.done[S.student] && !pending()) { received(r.body.done[S.student], r.body.progress); }
    });
  }
  g.querySelector(".group-apply").addEventListener("click", function () { post({apply: [g.querySelector(".group-entry").value]}); });
  g.querySelector(".group-set-mark").addEventListener("click", function () { post({manual: g.querySelector(".group-mark").value}); });
  g.querySelector(".group-set-comment").addEventListener("click", function () { post({comment: g.querySelector(".group-comment").value}); });
});
document.body.dataset.ready = "yes";  /* keys work from here on (tests wait for it) */
