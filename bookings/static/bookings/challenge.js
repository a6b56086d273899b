// The proof-of-work check: the widget's worker comes from this site, and the form goes on by
// itself once the check is done (the button stays for anyone who prefers to press it).
// The widget starts here, not on its own load: on a slow network its challenge could arrive
// before this script has told it where its worker is, and it would stop with an error.
(function () {
  "use strict";
  var script = document.currentScript;
  var worker = script.getAttribute("data-worker");
  globalThis.$altcha.algorithms.set("PBKDF2/SHA-256", function () {
    return new Worker(worker);
  });
  function start() {
    document.querySelectorAll("altcha-widget").forEach(function (widget) {
      widget.addEventListener("verified", function () {
        var form = widget.closest("form");
        if (form) form.submit();
      });
      widget.verify();
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else window.setTimeout(start, 0);
})();
