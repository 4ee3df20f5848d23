// cardgate console: what every page shares. No inline scripts anywhere (the pages' CSP allows
// scripts from this box only), so page code lives in web/static/<part>.js.
(function () {
  "use strict";
  var token = function () {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  };
  // htmx requests carry the CSRF token as a header (the guard accepts header or form field).
  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-CSRF-Token"] = token();
  });
  // cardgate.coalesce(fn, ms): call fn at most once per ms however many events arrive
  // (a burst of 1,000 state changes must not become 1,000 requests).
  window.cardgate = {
    csrf: token,
    coalesce: function (fn, ms) {
      var timer = null, again = false;
      return function () {
        if (timer) { again = true; return; }
        fn();
        timer = setTimeout(function tick() {
          if (again) { again = false; fn(); timer = setTimeout(tick, ms); } else { timer = null; }
        }, ms);
      };
    },
    // cardgate.listen(["message.state"], function (kind, data) {...}): one EventSource for the
    // page's kinds; the browser reconnects by itself if the stream drops.
    listen: function (kinds, handler) {
      var source = new EventSource("/console/events?kinds=" + encodeURIComponent(kinds.join(",")));
      kinds.forEach(function (kind) {
        source.addEventListener(kind, function (e) { handler(kind, JSON.parse(e.data)); });
      });
      return source;
    }
  };
})();
