/* Kramar: small behaviours that HTMX does not cover. Plain JS, no dependencies beyond htmx. */
(function () {
  "use strict";

  // <select data-kr-autosubmit> submits its form on change (language switch).
  document.addEventListener("change", function (e) {
    var el = e.target;
    if (el.matches && el.matches("[data-kr-autosubmit]") && el.form) { el.form.submit(); }
  });

  // Bulk selection: "select all" checkbox and the count of selected rows.
  document.addEventListener("change", function (e) {
    var el = e.target;
    if (!el.matches) { return; }
    var form = el.closest("form[data-kr-bulk]");
    if (!form) { return; }
    if (el.matches("[data-kr-select-all]")) {
      form.querySelectorAll("input[name=ids]").forEach(function (box) { box.checked = el.checked; });
    }
    var n = form.querySelectorAll("input[name=ids]:checked").length;
    var out = form.querySelector("[data-kr-selected-count]");
    if (out) { out.textContent = String(n); }
  });

  // Company picker on the contact form: a ticked search result moves into the chosen list.
  document.addEventListener("change", function (e) {
    var el = e.target;
    if (!el.matches || !el.matches("[data-kr-pick-results] input[name=company_ids]")) { return; }
    var picker = el.closest("[data-kr-picker]");
    var chosen = picker && picker.querySelector("[data-kr-picked]");
    if (chosen && el.checked) {
      if (chosen.querySelector("input[value='" + el.value + "']")) { el.closest("li").remove(); return; }
      chosen.appendChild(el.closest("li"));
    }
  });

  // Keyboard navigation in the global search: arrows move through results, Escape closes them.
  document.addEventListener("keydown", function (e) {
    var box = e.target.closest && e.target.closest("[data-kr-search]");
    if (!box) { return; }
    var results = box.querySelector(".kr-search-results");
    var links = results ? Array.prototype.slice.call(results.querySelectorAll("a")) : [];
    var i = links.indexOf(document.activeElement);
    if (e.key === "ArrowDown" && links.length) {
      e.preventDefault();
      links[Math.min(i + 1, links.length - 1)].focus();
    } else if (e.key === "ArrowUp" && links.length) {
      e.preventDefault();
      if (i <= 0) { box.querySelector("input[type=search]").focus(); } else { links[i - 1].focus(); }
    } else if (e.key === "Escape" && results) {
      results.innerHTML = "";
      box.querySelector("input[type=search]").focus();
    }
  });

  // "/" focuses the search box (unless typing in a field).
  document.addEventListener("keydown", function (e) {
    if (e.key !== "/" || e.ctrlKey || e.metaKey || e.altKey) { return; }
    var t = e.target;
    if (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].indexOf(t.tagName) >= 0) { return; }
    var input = document.querySelector("[data-kr-search] input[type=search]");
    if (input) { e.preventDefault(); input.focus(); }
  });

  // Clicking outside the search closes its results.
  document.addEventListener("click", function (e) {
    document.querySelectorAll("[data-kr-search]").forEach(function (box) {
      if (!box.contains(e.target)) {
        var r = box.querySelector(".kr-search-results");
        if (r) { r.innerHTML = ""; }
      }
    });
  });
})();
