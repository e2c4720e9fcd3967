/* Kramar call pop: while a call rings for this agent, a fixed panel shows the caller's card.
   live.js re-dispatches the server's `call.ringing` / `call.ended` events on <body> as DOM events
   "live:call.ringing" / "live:call.ended" (detail = the payload built by kramar.comms.calls.call_card).
   Every text from the payload is set with textContent (never as HTML); links are only relative card URLs and
   tel: numbers. The UI labels come translated from the data-* attributes of this script's own tag (base.html). */
(function () {
  "use strict";
  var script = document.currentScript;
  var data = (script && script.dataset) || {};
  var L = {
    incoming: data.incoming || "Incoming call",
    newLead: data.newLead || "New lead",
    company: data.company || "Company",
    owner: data.owner || "Owner",
    recent: data.recent || "Last interactions",
    none: data.none || "No interactions yet",
    deals: data.deals || "Open deals",
    dismiss: data.dismiss || "Dismiss",
    unknown: data.unknown || "Unknown caller",
    ended: data.ended || "Call ended"
  };
  var panel = null;
  var closeTimer = null;

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function safeUrl(url) {  // only the server's own relative card URLs
    return typeof url === "string" && /^\/(?!\/)/.test(url) ? url : null;
  }

  function style() {
    if (document.getElementById("kr-callpop-style")) { return; }
    var css = el("style");
    css.id = "kr-callpop-style";
    css.textContent =
      ".kr-callpop{position:fixed;right:1rem;bottom:1rem;z-index:1000;width:22rem;max-width:calc(100vw - 2rem);" +
      "background:var(--pico-card-background-color,#fff);color:var(--pico-color,#222);" +
      "border:1px solid var(--pico-muted-border-color,#ccc);border-left:.35rem solid var(--pico-primary,#1e88e5);" +
      "border-radius:.5rem;box-shadow:0 .5rem 1.5rem rgba(0,0,0,.25);padding:.8rem 1rem;font-size:.9rem}" +
      ".kr-callpop h2{font-size:1.05rem;margin:0 0 .3rem}.kr-callpop p{margin:.2rem 0}" +
      ".kr-callpop .kr-callpop-head{font-size:.75rem;text-transform:uppercase;letter-spacing:.05em;opacity:.75}" +
      ".kr-callpop .kr-callpop-lead{display:inline-block;margin-left:.4rem;padding:0 .4rem;border-radius:.3rem;" +
      "background:#f9a825;color:#000;font-size:.75rem;vertical-align:middle}" +
      ".kr-callpop ul{margin:.2rem 0 .4rem;padding-left:1rem}.kr-callpop li{margin:0;list-style:disc}" +
      ".kr-callpop .kr-callpop-close{position:absolute;z-index:1;top:.3rem;right:.4rem;width:auto;margin:0;" +
      "padding:.1rem .45rem;font-size:.8rem}.kr-callpop>.kr-callpop-head:first-of-type{padding-right:2rem}.kr-callpop.kr-callpop-ended{opacity:.7;border-left-color:#888}";
    document.head.appendChild(css);
  }

  function close() {
    if (closeTimer) { clearTimeout(closeTimer); closeTimer = null; }
    if (panel && panel.parentNode) { panel.parentNode.removeChild(panel); }
    panel = null;
  }

  function line(label, value) {
    var p = el("p");
    p.appendChild(el("strong", null, label + ": "));
    p.appendChild(el("span", null, value));
    return p;
  }

  function show(card) {
    close();
    style();
    panel = el("aside", "kr-callpop");
    panel.setAttribute("role", "alert");
    panel.setAttribute("data-testid", "call-pop");
    panel.setAttribute("data-call-id", String(card.call_id || ""));

    var dismiss = el("button", "kr-callpop-close secondary outline", "×");
    dismiss.type = "button";
    dismiss.title = L.dismiss;
    dismiss.setAttribute("aria-label", L.dismiss);
    dismiss.addEventListener("click", close);
    panel.appendChild(dismiss);

    panel.appendChild(el("div", "kr-callpop-head", L.incoming));
    var title = el("h2");
    var contact = card.contact || null;
    var url = contact && safeUrl(contact.url);
    if (contact && url) {
      var link = el("a", null, contact.name || L.unknown);
      link.href = url;
      link.setAttribute("data-testid", "call-pop-name");
      title.appendChild(link);
    } else {
      title.appendChild(el("span", null, (contact && contact.name) || L.unknown));
    }
    if (card.new_lead) { title.appendChild(el("span", "kr-callpop-lead", L.newLead)); }
    panel.appendChild(title);

    var number = typeof card.number === "string" ? card.number.replace(/[^+\d]/g, "") : "";
    var numberP = el("p");
    if (number) {
      var tel = el("a", null, card.number_display || card.number);
      tel.href = "tel:" + number;
      numberP.appendChild(tel);
    } else {
      numberP.textContent = card.number_display || "";
    }
    panel.appendChild(numberP);

    var company = card.company || null;
    if (company && company.name) {
      var cp = el("p");
      cp.appendChild(el("strong", null, L.company + ": "));
      var curl = safeUrl(company.url);
      if (curl) {
        var ca = el("a", null, company.name);
        ca.href = curl;
        cp.appendChild(ca);
      } else {
        cp.appendChild(el("span", null, company.name));
      }
      panel.appendChild(cp);
    }
    if (card.owner) { panel.appendChild(line(L.owner, card.owner)); }
    if (typeof card.open_deals === "number") { panel.appendChild(line(L.deals, card.open_deals)); }

    panel.appendChild(el("div", "kr-callpop-head", L.recent));
    var items = Array.isArray(card.interactions) ? card.interactions : [];
    if (items.length) {
      var list = el("ul");
      items.forEach(function (item) {
        var text = [item.date_display || item.date || "", item.channel || "", item.subject || ""]
          .filter(function (part) { return part; }).join(" · ");
        list.appendChild(el("li", null, text));
      });
      panel.appendChild(list);
    } else {
      panel.appendChild(el("p", null, L.none));
    }
    document.body.appendChild(panel);
  }

  function ended(detail) {
    if (!panel || (detail && detail.call_id && panel.getAttribute("data-call-id") !== String(detail.call_id))) {
      return;
    }
    panel.classList.add("kr-callpop-ended");
    var head = panel.querySelector(".kr-callpop-head");
    if (head) { head.textContent = L.ended; }
    closeTimer = setTimeout(close, 8000);
  }

  document.body.addEventListener("live:call.ringing", function (e) { show(e.detail || {}); });
  document.body.addEventListener("live:call.ended", function (e) { ended(e.detail || {}); });
  window.krCallPop = { show: show, close: close };
})();
