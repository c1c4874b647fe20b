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

  // Tables on phones: a table wider than the screen becomes a list of small cards, one per
  // row, of "label: value" lines. The labels come from the table's column headers; CSS
  // stacks only tables marked here, so without script a table scrolls inside its box.
  function label(table) {
    var head = table.tHead && table.tHead.rows[table.tHead.rows.length - 1];
    if (!head) return false;
    if (table.hasAttribute("data-labelled")) return true;
    var labels = [];
    Array.prototype.forEach.call(head.cells, function (cell) {
      for (var i = 0; i < (cell.colSpan || 1); i++) labels.push(cell.textContent.trim());
    });
    Array.prototype.forEach.call(table.tBodies, function (body) {
      Array.prototype.forEach.call(body.rows, function (row) {
        var column = 0;
        Array.prototype.forEach.call(row.cells, function (cell) {
          if (cell.tagName === "TD" && !cell.hasAttribute("data-label")) {
            cell.setAttribute("data-label", cell.colSpan > 1 ? "" : labels[column] || "");
          }
          column += cell.colSpan || 1;
        });
      });
    });
    table.setAttribute("data-labelled", "");
    return true;
  }
  function stackTables(root) {
    root.querySelectorAll("table.table").forEach(function (table) {
      table.classList.remove("stacked");
      if (wide.matches || !label(table)) return;
      var box = table.parentElement;
      if (table.offsetWidth > box.clientWidth + 1) table.classList.add("stacked");
    });
  }
  stackTables(document);
  var pending = false;
  window.addEventListener("resize", function () {
    if (pending) return;
    pending = true;
    window.requestAnimationFrame(function () {
      pending = false;
      stackTables(document);
    });
  });
  document.addEventListener("htmx:load", function (event) {
    stackTables(event.target.parentElement || document);
  });

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
