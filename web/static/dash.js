// The dashboard and the modem page (console_web.dash): live without reloading.
// Each part of the page is re-fetched as an htmx fragment when a hub event says it changed,
// at most once a second (cardgate.coalesce): a burst of 1,000 state changes costs one fetch.
// The AT traffic arrives as Server-Sent Events and is added as text, never as HTML.
(function () {
  "use strict";
  var REFRESH_MS = 1000;
  var MAX_LINES = 500;

  function refresher(id) {
    var el = document.getElementById(id);
    if (!el) { return function () {}; }
    return window.cardgate.coalesce(function () {
      window.htmx.ajax("GET", el.dataset.src || el.dataset.statusSrc, { target: el, swap: "innerHTML" });
    }, REFRESH_MS);
  }

  // The "Live" mark is grey until the stream is open (nothing is missed from then on: the
  // server subscribes before it answers) and while it is down. After a drop (the browser
  // reconnects by itself) `reopened` re-fetches what may have changed meanwhile.
  function liveMark(id, source, reopened) {
    var mark = document.getElementById(id);
    var opened = false;
    source.addEventListener("open", function () {
      if (mark) { mark.classList.remove("off"); }
      if (opened && reopened) { reopened(); }
      opened = true;
    });
    source.addEventListener("error", function () { if (mark) { mark.classList.add("off"); } });
  }

  function dashboard() {
    if (!document.getElementById("dashboard")) { return; }
    var modems = refresher("dash-modems");
    var figures = refresher("dash-figures");
    var replies = refresher("dash-replies");
    var source = window.cardgate.listen(
      ["pool.changed", "message.state", "message.accepted", "sms.received"],
      function (kind) {
        if (kind === "pool.changed") { modems(); }
        else if (kind === "sms.received") { replies(); }
        else if (kind === "message.accepted") { figures(); }
        else { figures(); modems(); }  // a state change moves the counts and a SIM's caps
      });
    liveMark("dash-live", source, function () { modems(); figures(); replies(); });
  }

  function modemPage() {
    var root = document.getElementById("modem-page");
    if (!root) { return; }
    var port = root.dataset.port;
    var status = document.getElementById("modem-status");
    status.dataset.src = root.dataset.statusSrc;
    var refreshStatus = refresher("modem-status");
    var events = window.cardgate.listen(["pool.changed"], function (kind, data) {
      if (data.port === port) { refreshStatus(); }
    });
    liveMark(null, events, refreshStatus);
    var log = document.getElementById("at-log");
    if (log) {
      var traffic = new EventSource(log.dataset.stream);
      liveMark("at-live", traffic);
      traffic.addEventListener("at", function (e) {
        var data = JSON.parse(e.data);
        var follow = log.scrollTop + log.clientHeight >= log.scrollHeight - 8;
        var li = document.createElement("li");
        li.textContent = data.line;
        li.className = data.dir === ">" ? "to" : "from";
        log.appendChild(li);
        while (log.children.length > MAX_LINES) { log.removeChild(log.firstChild); }
        if (follow) { log.scrollTop = log.scrollHeight; }
      });
      traffic.addEventListener("gone", function () { traffic.close(); });
    }
    var form = document.getElementById("restart-form");
    if (form) {
      form.addEventListener("submit", function () {
        var button = document.getElementById("restart-button");
        // After the form is sent: disabling it before would drop it from the submission.
        setTimeout(function () { button.disabled = true; button.textContent = button.dataset.busy; }, 0);
      });
    }
  }

  document.addEventListener("DOMContentLoaded", function () { dashboard(); modemPage(); });
})();
