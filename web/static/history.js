// History and replies: a part of the page marked data-live-src re-fetches itself (an htmx
// GET of that fragment) when one of its data-live-kinds arrives on the console's event
// stream. A thread ignores message.state events of messages it does not show. Bursts are
// coalesced (cardgate.coalesce), so a campaign's thousand state changes cost a request a second.
(function () {
  "use strict";
  var boxes = document.querySelectorAll("[data-live-src]");
  if (!boxes.length || !window.cardgate) { return; }
  var watchers = [];
  var kinds = {};
  Array.prototype.forEach.call(boxes, function (box) {
    var wanted = box.getAttribute("data-live-kinds").split(",");
    wanted.forEach(function (k) { kinds[k] = true; });
    watchers.push({
      box: box,
      kinds: wanted,
      refresh: window.cardgate.coalesce(function () {
        // The box may have been replaced (a reply posted swaps the conversation): find it again.
        var target = box.id ? document.getElementById(box.id) : box;
        if (!target) { return; }
        window.htmx.ajax("GET", box.getAttribute("data-live-src"),
                         {target: "#" + target.id, swap: "innerHTML"});
      }, 800)
    });
  });
  window.cardgate.listen(Object.keys(kinds), function (kind, data) {
    watchers.forEach(function (w) {
      if (w.kinds.indexOf(kind) < 0) { return; }
      if (kind === "message.state") {
        var current = w.box.id ? document.getElementById(w.box.id) : w.box;
        if (!current || !current.querySelector('[data-message-id="' + Number(data.message_id) + '"]')) {
          return;
        }
      }
      w.refresh();
    });
  });
})();
