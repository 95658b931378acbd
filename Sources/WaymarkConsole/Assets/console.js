// Waymark console: countdowns that move, and pages that refresh when the log moves. Everything
// here is optional: each page reads the same without it.
(function () {
  "use strict";

  // Seconds always show, so that a countdown visibly moves.
  function duration(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    function two(n) { return (n < 10 ? "0" : "") + n; }
    if (d > 0) return d + "d " + two(h) + "h " + two(m) + "m " + two(r) + "s";
    if (h > 0) return h + "h " + two(m) + "m " + two(r) + "s";
    if (m > 0) return m + "m " + two(r) + "s";
    return r + "s";
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll(".countdown[data-deadline]").forEach(function (el) {
      var left = Date.parse(el.getAttribute("data-deadline")) - now;
      el.textContent = left > 0 ? "breaches in " + duration(left) : "breached";
      el.classList.toggle("past", left <= 0);
    });
  }

  function editing() {
    var el = document.activeElement;
    return el && (el.tagName === "INPUT" || el.tagName === "SELECT" || el.tagName === "TEXTAREA");
  }

  function refresh() {
    if (editing()) { schedule(3000); return; }
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("main");
        var main = document.getElementById("main");
        if (fresh && main) {
          main.replaceWith(fresh);
          tick();
          document.body.setAttribute("data-refreshed", String(Date.now()));
        }
      })
      .catch(function () {});
  }

  var timer = null;
  var followUp = null;
  function schedule(ms) {
    if (timer === null) timer = setTimeout(function () { timer = null; refresh(); }, ms);
  }

  document.addEventListener("DOMContentLoaded", function () {
    tick();
    setInterval(tick, 1000);
    var live = document.body.getAttribute("data-live");
    if (!live || !window.EventSource) return;
    var stream = document.body.getAttribute("data-live-stream");
    var source = new EventSource(live);
    source.onopen = function () { document.body.setAttribute("data-live-open", "true"); };
    source.onmessage = function (message) {
      if (stream) {
        try { if (JSON.parse(message.data).stream !== stream) return; } catch (e) { return; }
      }
      // Many events in a burst make one refresh; a second one a few seconds later shows what the
      // projections had not yet read at the first.
      schedule(1000);
      if (followUp === null) followUp = setTimeout(function () { followUp = null; schedule(0); }, 4000);
    };
  });
})();
