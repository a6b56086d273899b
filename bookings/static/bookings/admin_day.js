/* The counter's day page (admin): keyboard and scanner focus, and reloading when the day changed.

   Without this script the page still works: the server puts `autofocus` on the look-up box (or,
   after a scan, on the row's next step), highlights the row just acted on (?hl=) and shows an
   "更新" link. This script adds: the focus back in the look-up box after a step even though the
   page was opened at the row (#b-…), and a reload every 30 s or as soon as the day's version
   changes (another counter's step, a walk-in, a closure), never while the clerk is typing. */
(function () {
  "use strict";

  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () {
      select.form.submit();
    });
  });

  document.querySelectorAll("button[data-print]").forEach(function (button) {
    button.addEventListener("click", function () {
      window.print();
    });
  });

  var root = document.querySelector("[data-day-version]");
  if (!root) {
    return;
  }
  var lookup = document.getElementById("q-lookup");
  var nextStep = document.querySelector("button[data-next-step]");
  var loadedAt = Date.now();
  var lastTyped = 0;
  var changed = false;

  // Focus: the next step after a scan, else the look-up box (without jumping away from the row).
  // Again once the page has loaded: opening it at a row (#b-…) leaves the focus on the body.
  function focusNow() {
    if (nextStep) {
      nextStep.focus();
    } else if (lookup && document.activeElement !== lookup) {
      lookup.focus({ preventScroll: true });
      lookup.select();
    }
  }
  focusNow();
  window.addEventListener("load", function () {
    window.setTimeout(focusNow, 0);
  });

  // Where the page was scrolled to survives a reload.
  var scrollKey = "q-day-scroll:" + root.dataset.refreshUrl;
  var savedScroll = sessionStorage.getItem(scrollKey);
  if (savedScroll !== null && !location.hash) {
    window.scrollTo(0, parseInt(savedScroll, 10) || 0);
  }
  sessionStorage.removeItem(scrollKey);

  ["input", "keydown"].forEach(function (type) {
    document.addEventListener(
      type,
      function () {
        lastTyped = Date.now();
      },
      true
    );
  });

  function typing() {
    if (Date.now() - lastTyped < 5000) {
      return true; // a key pressed in the last few seconds (a scan arriving, a name being typed)
    }
    if (lookup && lookup.value.trim() !== "") {
      return true;
    }
    var walkIn = document.querySelector(".q-walkin form");
    if (walkIn) {
      if (walkIn.contains(document.activeElement)) {
        return true;
      }
      var fields = walkIn.querySelectorAll("input[type=text], input[type=tel], input[type=email]");
      for (var i = 0; i < fields.length; i += 1) {
        if (fields[i].value.trim() !== "") {
          return true;
        }
      }
    }
    var active = document.activeElement;
    if (active && active.closest && active.closest(".q-step") && Date.now() - loadedAt < 60000) {
      return true; // a step button waiting for the clerk's Enter after a scan
    }
    return false;
  }

  function reload() {
    if (typing()) {
      return;
    }
    sessionStorage.setItem(scrollKey, String(window.scrollY));
    window.location.replace(root.dataset.refreshUrl);
  }

  function poll() {
    if (changed) {
      reload();
      return;
    }
    fetch(root.dataset.versionUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (data) {
        if (data && data.version && data.version !== root.dataset.dayVersion) {
          changed = true;
          reload();
        }
      })
      .catch(function () {
        /* offline or logged out: try again at the next tick */
      });
  }

  var pollSeconds = parseInt(root.dataset.pollSeconds, 10) || 7;
  var refreshSeconds = parseInt(root.dataset.refreshSeconds, 10) || 30;
  window.setInterval(poll, pollSeconds * 1000);
  window.setInterval(function () {
    changed = true; // the periodic reload (times move on: seats left, the slot now running)
  }, refreshSeconds * 1000);
})();
