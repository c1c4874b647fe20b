// The price-plan form shows only the part of the chosen kind of plan (one-time,
// subscription, pay for results). Without this file every part shows, each legend names its
// kind, and the server refuses a value typed into another kind's part. A hidden part is also
// disabled, so what was typed there is kept on the page but not posted.
// No inline script: the CSP holds.
(function () {
  "use strict";
  document.querySelectorAll("form[data-plan-form]").forEach(function (form) {
    var kind = form.querySelector("select[name=kind]");
    if (!kind) return;
    function showChosenKind() {
      form.querySelectorAll("fieldset[data-plan-kind]").forEach(function (part) {
        var other = part.getAttribute("data-plan-kind") !== kind.value;
        part.hidden = other;
        part.disabled = other;
      });
    }
    form.querySelectorAll("[data-plan-kinds-hint]").forEach(function (hint) {
      hint.hidden = true;
    });
    kind.addEventListener("change", showChosenKind);
    showChosenKind();
  });
})();
