// cardgate console, campaigns and approvals: live progress and confirmations.
// A region with data-live-url is re-fetched when one of its data-live-kinds events arrives on
// the SSE stream, at most once a second however many arrive (a campaign of 10,000 makes
// 10,000 state changes), and once more after the last of a burst so the final figures show.
// A campaign's progress stops listening once nothing of it can change any more.
(function () {
  "use strict";
  function settled(region) {
    var p = region.querySelector("[data-unsettled]");
    return p && p.getAttribute("data-unsettled") === "0" &&
      p.getAttribute("data-state") !== "paused";
  }
  function live(region) {
    var url = region.getAttribute("data-live-url");
    var kinds = (region.getAttribute("data-live-kinds") || "message.state").split(",");
    var source = null;
    var busy = false, again = false;
    function refresh() {
      if (busy) { again = true; return; }
      busy = true;
      fetch(url, { headers: { "HX-Request": "true" }, credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok) { throw new Error(String(response.status)); }
          return response.text();
        })
        .then(function (html) {
          // The fragment is server-rendered with autoescape: SMS text in it is escaped.
          region.innerHTML = html;
          region.setAttribute("data-refreshed", String(Date.now()));
          if (source && settled(region)) { source.close(); source = null; }
        })
        .catch(function () { /* the next event tries again */ })
        .then(function () {
          busy = false;
          if (again) { again = false; coalesced(); }
        });
    }
    var coalesced = window.cardgate.coalesce(refresh, 1000);
    if (settled(region)) { return; }
    source = window.cardgate.listen(kinds, function () { coalesced(); });
    // A refresh right after connecting catches what changed before the stream was open.
    source.addEventListener("open", function () { coalesced(); });
  }
  function confirmations() {
    document.addEventListener("submit", function (event) {
      var form = event.target;
      if (form.matches && form.matches("form.confirm") &&
          !window.confirm(form.getAttribute("data-confirm") || "")) {
        event.preventDefault();
      }
    });
  }
  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-live-url]"), live);
    confirmations();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else { start(); }
})();
