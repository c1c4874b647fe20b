// Small behaviours of the menus and filter panels. Every page works without this file:
// <details> opens and closes by itself, and CSS shows the wide-screen parts on wide screens.
// No inline script: the CSP holds.
(function () {
  "use strict";
  var wide = window.matchMedia("(min-width: 761px)");

  // Navigation and the catalogue's filters fold behind a button on phones only: keep their
  // <details> open on wide screens, closed when the screen becomes narrow.
  function fitToScreen() {
    document.querySelectorAll("details[data-open-wide]").forEach(function (d) {
      d.open = wide.matches;
    });
  }
  fitToScreen();
  wide.addEventListener("change", fitToScreen);

  // Drop-down menus (navigation groups, the user menu): one open at a time; a click
  // elsewhere or Escape closes them.
  var MENUS = "details.nav-menu, details.user-menu";
  function closeMenus(except) {
    document.querySelectorAll(MENUS).forEach(function (d) {
      if (d !== except && d.open && !d.contains(except)) d.open = false;
    });
  }
  document.addEventListener(
    "toggle",
    function (event) {
      var d = event.target;
      if (d.matches && d.matches(MENUS) && d.open) closeMenus(d);
    },
    true
  );
  document.addEventListener("click", function (event) {
    if (!event.target.closest(MENUS)) closeMenus(null);
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var open = event.target.closest && event.target.closest(MENUS);
    closeMenus(null);
    if (open) open.querySelector("summary").focus();
  });
})();
