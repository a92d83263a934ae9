(function () {
  "use strict";
  var boxes = document.querySelectorAll(".filters input[type=checkbox]");
  var findings = document.querySelectorAll(".finding");
  var shown = document.getElementById("shown-count");
  function checked(name) {
    var on = {};
    document.querySelectorAll(".filters input[name=" + name + "]").forEach(function (b) { on[b.value] = b.checked; });
    return on;
  }
  function apply() {
    var sev = checked("severity"), st = checked("state"), n = 0;
    findings.forEach(function (f) {
      var visible = sev[f.dataset.severity] && st[f.dataset.state];
      f.hidden = !visible;
      if (visible) { n += 1; }
    });
    document.querySelectorAll(".file").forEach(function (g) {
      g.hidden = g.querySelectorAll(".finding:not([hidden])").length === 0;
    });
    document.querySelectorAll(".stage-findings").forEach(function (s) {
      s.hidden = s.querySelectorAll(".file:not([hidden])").length === 0;
    });
    shown.textContent = String(n);
  }
  boxes.forEach(function (b) { b.addEventListener("change", apply); });
  apply();
}());
