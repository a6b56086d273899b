// Small behaviours of the staff pages, without inline script (data attributes instead):
//   data-confirm="…"   on a submit button: ask before the form is sent
//   data-print         on a button: open the browser's print dialog
//   data-autosubmit    on a select: send its form when the choice changes
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var asking = event.target.closest("[data-confirm]");
    if (asking && !window.confirm(asking.getAttribute("data-confirm"))) {
      event.preventDefault();
      return;
    }
    if (event.target.closest("[data-print]")) {
      window.print();
    }
  });
  document.addEventListener("change", function (event) {
    var select = event.target.closest("select[data-autosubmit]");
    if (select && select.form) {
      select.form.submit();
    }
  });
})();
