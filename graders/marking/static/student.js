/* The per-student view: which PDF pages answer which item, the general comment, keys j/k. */
var S = JSON.parse(document.getElementById("state").textContent);
function saveStudent(fields) {
  return api("/api/student", Object.assign({student: S.student, version: S.notes_version}, fields)).then(function (r) {
    if (r.status === 409) return stale();
    if (r.status !== 200) { banner("Not saved: " + (r.body.error || r.status)); return; }
    S.notes_version = r.body.student.version; S.pages = r.body.student.pages; S.comment = r.body.student.comment;
    document.getElementById("saved").textContent = "saved";
  });
}
document.querySelectorAll("input.map").forEach(function (box) {
  box.addEventListener("change", function () {
    var pages = {};
    document.querySelectorAll("input.map:checked").forEach(function (b) {
      (pages[b.dataset.item] = pages[b.dataset.item] || []).push(Number(b.value)); });
    saveStudent({pages: pages});
  });
});
var use = document.getElementById("use-proposal");
if (use) use.addEventListener("click", function () {   /* confirm the proposed page map in one action */
  saveStudent({pages: S.proposed}).then(function () {
    document.querySelectorAll("input.map").forEach(function (b) {
      b.checked = (S.proposed[b.dataset.item] || []).indexOf(Number(b.value)) >= 0; });
    use.textContent = "this is the map in use";
  });
});
var general = document.getElementById("general-comment"), timer = null;
function saveGeneral() { clearTimeout(timer); timer = null; if (general.value !== S.comment) return saveStudent({comment: general.value}); }
general.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(saveGeneral, 700); });
general.addEventListener("blur", saveGeneral);
document.addEventListener("keydown", function (e) {
  var tag = e.target.tagName;
  if (tag === "TEXTAREA" || tag === "INPUT") { if (e.key === "Escape") e.target.blur(); return; }
  var id = (e.key === "j" || e.key === "ArrowRight") ? "next" : (e.key === "k" || e.key === "ArrowLeft") ? "prev" : null;
  var a = id && document.getElementById(id); if (a) location.href = a.href;
});
document.body.dataset.ready = "yes";  /* keys work from here on (tests wait for it) */
