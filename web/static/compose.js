// The compose page's small helpers (no build step): add a picked contact's number to the
// recipients, fill the text from a template, show the "when" fields that apply, confirm a
// delete. The counter, the contact search and the import preview are htmx.
(function () {
  "use strict";

  function recount() {
    var text = document.getElementById("text");
    if (text) text.dispatchEvent(new Event("input", { bubbles: true }));
  }

  document.addEventListener("click", function (ev) {
    var add = ev.target.closest("[data-add-number]");
    if (!add) return;
    var to = document.getElementById("to");
    var number = add.getAttribute("data-add-number");
    var current = to.value.replace(/\s+$/, "");
    to.value = current ? current + "\n" + number : number;
    add.disabled = true;
  });

  document.addEventListener("change", function (ev) {
    var pick = ev.target.closest("[data-compose-template]");
    if (pick) {
      var option = pick.options[pick.selectedIndex];
      var text = option && option.getAttribute("data-text");
      if (text !== null && text !== undefined) {
        document.getElementById("text").value = text;
        var category = document.querySelector("select[name=category]");
        if (category && option.getAttribute("data-category")) {
          category.value = option.getAttribute("data-category");
        }
        recount();
      }
    }
    if (ev.target.name === "when") showWhen();
  });

  function showWhen() {
    var checked = document.querySelector("input[name=when]:checked");
    var when = checked ? checked.value : "now";
    document.querySelectorAll("[data-when]").forEach(function (el) {
      el.hidden = el.getAttribute("data-when") !== when;
    });
  }

  document.addEventListener("submit", function (ev) {
    var message = ev.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) ev.preventDefault();
  });

  document.addEventListener("DOMContentLoaded", showWhen);
})();
