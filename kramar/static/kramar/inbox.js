/* The agent inbox: inserts a canned response (already rendered with its merge fields by the server) into the
   reply at the cursor. Live list updates and the presence heartbeat are plain HTMX in the templates. */
(function () {
  "use strict";
  document.addEventListener("change", function (e) {
    var select = e.target;
    if (!select.matches || !select.matches("select[data-kr-canned]")) { return; }
    var option = select.options[select.selectedIndex];
    var text = option && option.getAttribute("data-text");
    var area = document.getElementById(select.getAttribute("data-kr-canned"));
    if (!text || !area) { return; }
    var start = area.selectionStart || 0, end = area.selectionEnd || 0, value = area.value;
    if (typeof area.selectionStart !== "number") { start = end = value.length; }
    area.value = value.slice(0, start) + text + value.slice(end);
    area.selectionStart = area.selectionEnd = start + text.length;
    select.selectedIndex = 0;
    area.focus();
  });
})();
