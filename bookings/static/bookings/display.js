/* The waiting room's display (bookings/display.py): keeps the list of calls current.

   Every second it asks the calls URL, sending the version it shows as If-None-Match: the server
   answers 304 (nothing new) or the list as JSON. On a network error it keeps the last list on the
   screen, shows 再接続中 and tries again after 2, 4, … up to 5 seconds (at once when the browser
   says it is online again). A new call at the top is highlighted and, once sound is on, chimes:
   browsers let a page play sound only after a tap (autoplay policy), hence the 音を出す button.
   No third-party code; the list is built with textContent (never HTML from the network). */
(function () {
  "use strict";

  var body = document.body;
  var url = body.dataset.callsUrl;
  if (!url || !window.fetch) {
    return; // the page as the server sent it
  }
  var version = body.dataset.version || "0";
  var pollMs = parseInt(body.dataset.pollMs, 10) || 1000;
  var maxBackoffMs = parseInt(body.dataset.maxBackoffMs, 10) || 5000;
  var list = document.getElementById("d-calls");
  var empty = document.getElementById("d-empty");
  var status = document.getElementById("d-status");
  var soundButton = document.getElementById("d-sound");
  var fullButton = document.getElementById("d-full");
  var first = list.querySelector("li[data-id]");
  var newestId = first ? parseInt(first.dataset.id, 10) : 0;
  var failures = 0;
  var timer = null;
  var inFlight = false;
  var STATUS_OFFLINE = status.innerHTML;
  var SOUND_KEY = "display-sound";

  // --- The list ---------------------------------------------------------------------------------

  function span(className, text) {
    var element = document.createElement("span");
    element.className = className;
    if (text !== undefined) {
      element.textContent = text;
    }
    return element;
  }

  function line(call, index) {
    var item = document.createElement("li");
    item.className = "d-call" + (index === 0 ? " newest" : "");
    item.dataset.id = String(call.id);
    item.appendChild(span("d-ref", call.reference));
    var counter = span("d-counter");
    var number = document.createElement("b");
    number.textContent = String(call.counter);
    counter.appendChild(number);
    counter.appendChild(document.createTextNode("番窓口 "));
    var english = document.createElement("span");
    english.lang = "en";
    english.textContent = "Counter " + call.counter;
    counter.appendChild(english);
    item.appendChild(counter);
    return item;
  }

  function render(calls) {
    var items = calls.map(line);
    list.replaceChildren.apply(list, items);
    empty.hidden = calls.length > 0;
    var top = calls.length ? calls[0].id : 0;
    if (top > newestId) {
      items[0].classList.add("fresh");
      chime();
    }
    newestId = top;
  }

  // --- Polling, and the network going away ------------------------------------------------------

  function schedule(delay) {
    window.clearTimeout(timer);
    timer = window.setTimeout(poll, delay);
  }

  function connected() {
    failures = 0;
    status.hidden = true;
    status.innerHTML = STATUS_OFFLINE;
  }

  function failed(linkGone) {
    failures += 1;
    if (linkGone) {
      status.textContent = "このリンクは無効です（新しいリンクを管理者にお尋ねください） This link is no longer valid";
    }
    status.hidden = false;
    return Math.min(maxBackoffMs, pollMs * Math.pow(2, failures));
  }

  function poll() {
    if (inFlight) {
      return;
    }
    inFlight = true;
    var controller = window.AbortController ? new AbortController() : null;
    var abort = window.setTimeout(function () {
      if (controller) {
        controller.abort();
      }
    }, 4000);
    fetch(url, {
      headers: { Accept: "application/json", "If-None-Match": '"c' + version + '"' },
      cache: "no-store",
      credentials: "omit",
      signal: controller ? controller.signal : undefined,
    })
      .then(function (response) {
        if (response.status === 304) {
          return null;
        }
        if (!response.ok) {
          var error = new Error("HTTP " + response.status);
          error.gone = response.status === 404;
          throw error;
        }
        return response.json();
      })
      .then(function (data) {
        if (data) {
          version = String(data.version);
          render(data.calls);
        }
        connected();
        return pollMs;
      })
      .catch(function (error) {
        return failed(Boolean(error && error.gone));
      })
      .then(function (delay) {
        window.clearTimeout(abort);
        inFlight = false;
        schedule(delay);
      });
  }

  window.addEventListener("online", function () {
    schedule(0);
  });
  schedule(pollMs);

  // --- The chime ----------------------------------------------------------------------------------

  var AudioContextClass = window.AudioContext || window.webkitAudioContext;
  var audio = null;
  var soundWanted = false;

  function soundShown() {
    var on = soundWanted && audio !== null && audio.state === "running";
    soundButton.setAttribute("aria-pressed", on ? "true" : "false");
  }

  function note(frequency, start, length) {
    var oscillator = audio.createOscillator();
    var gain = audio.createGain();
    oscillator.type = "sine";
    oscillator.frequency.value = frequency;
    gain.gain.setValueAtTime(0.0001, start);
    gain.gain.exponentialRampToValueAtTime(0.4, start + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + length);
    oscillator.connect(gain).connect(audio.destination);
    oscillator.start(start);
    oscillator.stop(start + length + 0.05);
  }

  function chime() {
    if (!soundWanted || audio === null || audio.state !== "running") {
      return;
    }
    var now = audio.currentTime;
    note(880, now, 0.6); // ピン
    note(660, now + 0.45, 0.9); // ポーン
  }

  if (AudioContextClass) {
    soundButton.hidden = false;
    try {
      soundWanted = window.localStorage.getItem(SOUND_KEY) === "on";
    } catch (ignored) {
      soundWanted = false;
    }
    if (soundWanted) {
      audio = new AudioContextClass(); // runs at once where the browser allows it (a kiosk set-up)
      audio.onstatechange = soundShown;
    }
    soundShown();
    soundButton.addEventListener("click", function () {
      if (audio === null) {
        audio = new AudioContextClass();
        audio.onstatechange = soundShown;
      }
      var on = !(soundWanted && audio.state === "running");
      soundWanted = on;
      try {
        window.localStorage.setItem(SOUND_KEY, on ? "on" : "off");
      } catch (ignored) {
        // private mode: the choice lasts until the page reloads
      }
      audio.resume().then(function () {
        soundShown();
        chime(); // the sound it will make
      });
      soundShown();
    });
  }

  // --- Full screen ------------------------------------------------------------------------------

  if (document.fullscreenEnabled) {
    fullButton.hidden = false;
    fullButton.addEventListener("click", function () {
      if (document.fullscreenElement) {
        document.exitFullscreen();
      } else {
        document.documentElement.requestFullscreen();
      }
    });
  }
})();
