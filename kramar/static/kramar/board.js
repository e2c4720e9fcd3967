/* Kramar pipeline board: native HTML5 drag and drop of deal cards between stage columns.
   A drop posts the move (with the deal's version) to the card's data-move-url; on success the board is
   re-rendered from the server (so totals and filters stay right), on a refusal the card goes back and the
   server's message is shown. Dropping on a "lost" column asks for the lost reason first. */
(function () {
  "use strict";

  var dragged = null;
  var origin = null;
  var originNext = null;
  var pendingLost = null;

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (e) {
      return "";
    }
  }

  function say(text, isError) {
    var box = document.getElementById("kr-board-message");
    if (!box) { return; }
    box.textContent = text;
    box.hidden = !text;
    box.classList.toggle("kr-message-error", !!isError);
    box.classList.toggle("kr-message-success", !isError);
  }

  function putBack(card) {
    if (origin) {
      origin.insertBefore(card, originNext && originNext.parentNode === origin ? originNext : null);
    }
  }

  function refreshBoard() {
    var board = document.getElementById("kr-board");
    if (!board || !window.htmx) { window.location.reload(); return; }
    window.htmx.ajax("GET", board.dataset.refreshUrl, { target: "#kr-board", swap: "outerHTML" });
  }

  function move(card, column, extra) {
    var body = new FormData();
    body.append("stage", column.dataset.stageId);
    body.append("version", card.dataset.version);
    Object.keys(extra || {}).forEach(function (k) { body.append(k, extra[k]); });
    card.setAttribute("aria-busy", "true");
    var keepOrigin = origin;
    var keepNext = originNext;
    fetch(card.dataset.moveUrl, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRFToken": csrfToken() }
    }).then(function (response) {
      return response.json().then(function (data) { return { status: response.status, data: data }; });
    }).then(function (result) {
      card.removeAttribute("aria-busy");
      var data = result.data || {};
      if (data.ok) {
        card.dataset.version = String(data.version);
        card.dataset.stageId = String(data.stage_id);
        say(data.message || "", false);
        refreshBoard();
        return;
      }
      origin = keepOrigin; originNext = keepNext;
      putBack(card);
      if (data.need_lost_reason) {
        askLostReason(card, column, keepOrigin, keepNext);
      }
      say(data.message || String(result.status), true);
    }).catch(function () {
      card.removeAttribute("aria-busy");
      origin = keepOrigin; originNext = keepNext;
      putBack(card);
      var texts = document.getElementById("kr-board-texts");
      say(texts ? texts.dataset.networkError : "Network error", true);
    });
  }

  function askLostReason(card, column, keepOrigin, keepNext) {
    var dialog = document.getElementById("kr-lost-dialog");
    if (!dialog || typeof dialog.showModal !== "function") { putBack(card); return; }
    pendingLost = { card: card, column: column, origin: keepOrigin || origin, next: keepNext || originNext };
    var form = dialog.querySelector("form");
    form.reset();
    dialog.showModal();
    var select = form.querySelector("select[name=lost_reason]");
    if (select) { select.focus(); }
  }

  function closeLost(confirmed) {
    var dialog = document.getElementById("kr-lost-dialog");
    var pending = pendingLost;
    pendingLost = null;
    if (dialog && dialog.open) { dialog.close(); }
    if (!pending) { return; }
    origin = pending.origin; originNext = pending.next;
    if (!confirmed) { putBack(pending.card); return; }
    var form = dialog.querySelector("form");
    pending.column.querySelector("[data-kr-cards]").prepend(pending.card);
    move(pending.card, pending.column, {
      lost_reason: form.elements.lost_reason.value,
      lost_note: form.elements.lost_note.value
    });
  }

  document.addEventListener("submit", function (e) {
    if (e.target.id !== "kr-lost-form") { return; }
    e.preventDefault();
    if (!e.target.elements.lost_reason.value) { e.target.elements.lost_reason.focus(); return; }
    closeLost(true);
  });
  document.addEventListener("click", function (e) {
    if (e.target.closest && e.target.closest("[data-kr-lost-cancel]")) { closeLost(false); }
  });
  document.addEventListener("cancel", function (e) {  // Escape on the dialog
    if (e.target.id === "kr-lost-dialog") { e.preventDefault(); closeLost(false); }
  }, true);

  document.addEventListener("dragstart", function (e) {
    var card = e.target.closest && e.target.closest("[data-kr-deal]");
    if (!card) { return; }
    dragged = card;
    origin = card.parentNode;
    originNext = card.nextSibling;
    e.dataTransfer.effectAllowed = "move";
    e.dataTransfer.setData("text/plain", card.dataset.dealId);
    card.classList.add("kr-dragging");
  });

  function clearTargets() {
    document.querySelectorAll(".kr-drop-target").forEach(function (el) { el.classList.remove("kr-drop-target"); });
  }

  document.addEventListener("dragend", function () {
    if (dragged) { dragged.classList.remove("kr-dragging"); }
    dragged = null;
    clearTargets();
  });

  document.addEventListener("dragover", function (e) {
    var column = dragged && e.target.closest && e.target.closest("[data-kr-column]");
    if (!column) { return; }
    e.preventDefault();
    e.dataTransfer.dropEffect = "move";
    if (!column.classList.contains("kr-drop-target")) {
      clearTargets();
      column.classList.add("kr-drop-target");
    }
  });

  document.addEventListener("drop", function (e) {
    var column = dragged && e.target.closest && e.target.closest("[data-kr-column]");
    if (!column) { return; }
    e.preventDefault();
    clearTargets();
    var card = dragged;
    dragged = null;
    card.classList.remove("kr-dragging");
    if (column.dataset.stageId === card.dataset.stageId) { return; }
    column.querySelector("[data-kr-cards]").prepend(card);  // the most recently updated card comes first
    if (column.dataset.stageKind === "lost") {
      askLostReason(card, column);
    } else {
      move(card, column, {});
    }
  });

  // <select data-kr-navigate>: go to the chosen URL (the pipeline switcher).
  document.addEventListener("change", function (e) {
    if (e.target.matches && e.target.matches("select[data-kr-navigate]") && e.target.value) {
      window.location.href = e.target.value;
    }
  });
})();
