// cardgate console, campaigns and approvals: live regions and confirmations.
// Each region with data-live-url is re-fetched when one of the page's data-live-kinds events
// arrives on the SSE stream (one stream for the page), at most once a second however many
// arrive (a campaign of 10,000 makes 10,000 state changes), and once more after the last of a
// burst, so the final figures show. The page stops listening once its campaign can no longer
// change (nothing waiting, sending or awaiting a delivery report, and not paused).
(function () {
  "use strict";
  function settled() {
    var p = document.querySelector("[data-unsettled]");
    return !!p && p.getAttribute("data-unsettled") === "0" &&
      p.getAttribute("data-state") !== "paused";
  }
  function start() {
    var regions = Array.prototype.slice.call(document.querySelectorAll("[data-live-url]"));
    var source = null;
    var kinds = {};
    var refreshers = regions.map(function (region) {
      (region.getAttribute("data-live-kinds") || "message.state").split(",").forEach(
        function (k) { kinds[k] = true; });
      var busy = false, again = false;
      var refresh = function () {
        if (busy) { again = true; return; }
        busy = true;
        fetch(region.getAttribute("data-live-url"),
              { headers: { "HX-Request": "true" }, credentials: "same-origin" })
          .then(function (response) {
            if (!response.ok) { throw new Error(String(response.status)); }
            return response.text();
          })
          .then(function (html) {
            // A server-rendered fragment (autoescaped: SMS text in it is escaped).
            region.innerHTML = html;
            region.setAttribute("data-refreshed", String(Date.now()));
            if (source && settled()) { source.close(); source = null; }
          })
          .catch(function () { /* the next event tries again */ })
          .then(function () {
            busy = false;
            if (again) { again = false; coalesced(); }
          });
      };
      var coalesced = window.cardgate.coalesce(refresh, 1000);
      return coalesced;
    });
    if (regions.length && !settled()) {
      source = window.cardgate.listen(Object.keys(kinds), function () {
        refreshers.forEach(function (r) { r(); });
      });
      // Once connected, one refresh catches what changed before the stream was open.
      source.addEventListener("open", function () { refreshers.forEach(function (r) { r(); }); });
    }
    document.addEventListener("submit", function (event) {
      var form = event.target;
      if (form.matches && form.matches("form.confirm") &&
          !window.confirm(form.getAttribute("data-confirm") || "")) {
        event.preventDefault();
      }
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else { start(); }
})();
