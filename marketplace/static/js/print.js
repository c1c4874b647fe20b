// A print button for pages that print (the invoice): shown only where script runs, since
// without it the browser's own Print menu does the same. No inline script: the CSP holds.
document.querySelectorAll("[data-print]").forEach(function (button) {
  button.hidden = false;
  button.addEventListener("click", function () {
    window.print();
  });
});
