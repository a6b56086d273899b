// The proof-of-work check: the widget's worker comes from this site, and the form goes on by
// itself once the check is done (the button stays for anyone who prefers to press it).
(function () {
  "use strict";
  var script = document.currentScript;
  var worker = script.getAttribute("data-worker");
  globalThis.$altcha.algorithms.set("PBKDF2/SHA-256", function () {
    return new Worker(worker);
  });
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("altcha-widget").forEach(function (widget) {
      widget.addEventListener("verified", function () {
        var form = widget.closest("form");
        if (form) form.submit();
      });
    });
  });
})();
