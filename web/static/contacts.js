// The address book's pages: "another number / field" rows, and a confirmation before a
// delete. Without JavaScript the forms still work (one empty row is always there; a delete
// then happens without the question).
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-add-row]");
    if (!button) { return; }
    var box = document.getElementById(button.getAttribute("data-add-row"));
    var rows = box ? box.querySelectorAll(".row") : [];
    if (!rows.length) { return; }
    var last = rows[rows.length - 1];
    var copy = last.cloneNode(true);
    copy.querySelectorAll(".field-error").forEach(function (e) { e.remove(); });
    copy.querySelectorAll("input").forEach(function (input) {
      input.value = "";
      input.removeAttribute("aria-invalid");
      input.removeAttribute("aria-describedby");
      if (input.id) { input.id = input.id.replace(/\d+$/, String(rows.length)); }
    });
    last.after(copy);
    var first = copy.querySelector("input");
    if (first) { first.focus(); }
  });
  document.addEventListener("submit", function (event) {
    var question = event.target.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { event.preventDefault(); }
  });
})();
