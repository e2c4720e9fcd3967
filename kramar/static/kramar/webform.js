/* Kramar web form: embed on any site (docs/webforms.md).

     <form data-kramar-form="https://crm.example/api/v1/comms/hooks/forms/7"> … fields … </form>
     <script src="https://crm.example/static/kramar/webform.js" defer></script>

   Every form with data-kramar-form is posted with fetch (form-encoded: a "simple" cross-origin request) to that
   address; the answer's text is shown inline in the form's [data-kramar-status] element (one is added when
   missing), field errors next to their fields. The honeypot field (data-kramar-honeypot, or name="website") is
   hidden from people; bots that fill it are answered as if all went well and nothing is stored.
   Texts shown come from the server's answer (set with textContent) or from data-kramar-* attributes:
   data-kramar-sending, data-kramar-error, data-kramar-throttled. */
(function () {
  "use strict";

  function hideHoneypot(form) {
    var trap = form.querySelector("[data-kramar-honeypot]") || form.querySelector("input[name=website]");
    if (!trap) { return; }
    var box = trap.closest("label") || trap;
    box.setAttribute("aria-hidden", "true");
    box.style.position = "absolute";
    box.style.left = "-10000px";
    box.style.width = "1px";
    box.style.height = "1px";
    box.style.overflow = "hidden";
    trap.tabIndex = -1;
    trap.autocomplete = "off";
  }

  function statusOf(form) {
    var status = form.querySelector("[data-kramar-status]");
    if (!status) {
      status = document.createElement("p");
      status.setAttribute("data-kramar-status", "");
      form.appendChild(status);
    }
    status.setAttribute("role", "status");
    status.setAttribute("aria-live", "polite");
    return status;
  }

  function clearErrors(form) {
    Array.prototype.forEach.call(form.querySelectorAll("[data-kramar-field-error]"), function (node) {
      node.parentNode.removeChild(node);
    });
    Array.prototype.forEach.call(form.querySelectorAll("[aria-invalid]"), function (node) {
      node.removeAttribute("aria-invalid");
    });
  }

  function fieldError(form, name, message) {
    var field = form.querySelector("[name=\"" + String(name).replace(/[^\w.-]/g, "") + "\"]");
    if (!field) { return false; }
    field.setAttribute("aria-invalid", "true");
    var note = document.createElement("small");
    note.setAttribute("data-kramar-field-error", name);
    note.textContent = message;
    (field.closest("label") || field).insertAdjacentElement("afterend", note);
    return true;
  }

  function submit(form, event) {
    event.preventDefault();
    var url = form.getAttribute("data-kramar-form");
    var status = statusOf(form);
    var button = form.querySelector("[type=submit]");
    clearErrors(form);
    status.textContent = form.getAttribute("data-kramar-sending") || "…";
    status.removeAttribute("data-kramar-ok");
    if (button) { button.disabled = true; }
    var body = new URLSearchParams(new FormData(form));
    fetch(url, { method: "POST", body: body, mode: "cors", credentials: "omit",
                 headers: { "Accept": "application/json" } })
      .then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (data) {
          return { response: response, data: data || {} };
        });
      })
      .then(function (result) {
        var response = result.response, data = result.data;
        if (response.ok) {
          status.textContent = data.message || "OK";
          status.setAttribute("data-kramar-ok", "");
          form.reset();
          return;
        }
        if (response.status === 429) {
          status.textContent = form.getAttribute("data-kramar-throttled") || data.title || data.detail || "";
          return;
        }
        var shown = false;
        (data.errors || []).forEach(function (error) {
          shown = fieldError(form, error.field, error.message) || shown;
        });
        status.textContent = shown ? (data.title || "") : (data.detail || data.title ||
          form.getAttribute("data-kramar-error") || "Error");
      })
      .catch(function () {
        status.textContent = form.getAttribute("data-kramar-error") || "Could not send the form. Please try again.";
      })
      .then(function () { if (button) { button.disabled = false; } });
  }

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll("form[data-kramar-form]"), function (form) {
      if (form.getAttribute("data-kramar-ready")) { return; }
      form.setAttribute("data-kramar-ready", "1");
      hideHoneypot(form);
      form.addEventListener("submit", function (event) { submit(form, event); });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
