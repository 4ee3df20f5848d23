// cardgate console, the approvals page: a request submitted while an approver has the page
// open appears without a reload, and one decided elsewhere leaves. The page is fetched again
// (at most once a second) when messages are accepted or an approval is decided; the cards
// already shown stay as they are, so a reason being typed is not lost.
(function () {
  "use strict";
  function start() {
    var list = document.getElementById("approvals");
    if (!list || !window.cardgate) { return; }
    var refresh = function () {
      fetch(window.location.pathname, { credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok) { throw new Error(String(response.status)); }
          return response.text();
        })
        .then(function (html) {
          // Server-rendered and autoescaped (SMS text in it is escaped); nothing in it runs.
          var fresh = new DOMParser().parseFromString(html, "text/html");
          var freshList = fresh.getElementById("approvals");
          if (!freshList) { return; }
          var wanted = {};
          Array.prototype.forEach.call(freshList.querySelectorAll("article.approval"),
            function (card) { wanted[card.id] = card; });
          Array.prototype.forEach.call(list.querySelectorAll("article.approval"),
            function (card) { if (!wanted[card.id]) { card.remove(); } });
          var previous = null;
          Array.prototype.forEach.call(freshList.querySelectorAll("article.approval"),
            function (card) {
              var shown = document.getElementById(card.id);
              if (!shown) {
                shown = document.importNode(card, true);
                if (previous) { previous.after(shown); } else { list.prepend(shown); }
              }
              previous = shown;
            });
          var nothing = document.getElementById("nothing-pending");
          var freshNothing = fresh.getElementById("nothing-pending");
          if (nothing && !freshNothing) { nothing.remove(); }
          if (!nothing && freshNothing) { list.append(document.importNode(freshNothing, true)); }
          var count = document.getElementById("pending-count");
          var freshCount = fresh.getElementById("pending-count");
          if (count && freshCount) {
            count.textContent = freshCount.textContent;
            count.className = freshCount.className;
          }
          var decided = document.querySelector("section.decided");
          var freshDecided = fresh.querySelector("section.decided");
          if (decided && freshDecided) { decided.replaceWith(document.importNode(freshDecided, true)); }
          list.setAttribute("data-refreshed", String(Date.now()));
        })
        .catch(function () { /* the next event tries again */ });
    };
    window.cardgate.listen(["message.accepted", "approval.decided"],
                           window.cardgate.coalesce(refresh, 1000));
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else { start(); }
})();
