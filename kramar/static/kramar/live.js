/* Kramar live updates: one EventSource per page to /comms/events/ (server-sent events).
   Every event is re-dispatched on <body> as a DOM event "live:<kind>" with the payload as `detail`,
   so a page reacts with plain HTMX: hx-trigger="live:conversation.changed from:body".
   The browser reconnects by itself and sends Last-Event-ID, so nothing kept on the server is missed. */
(function () {
  "use strict";
  var url = document.body && document.body.getAttribute("data-kr-live");
  if (!url || !window.EventSource) { return; }
  var source = new EventSource(url);
  var seen = {};
  function relay(e) {
    var detail = {};
    try { detail = JSON.parse(e.data || "{}"); } catch (err) { detail = {}; }
    document.body.dispatchEvent(new CustomEvent("live:" + e.type, { detail: detail, bubbles: true }));
  }
  // EventSource delivers named events only to listeners of that name: listen for the kinds a page declares
  // (data-kr-live-kinds on <body>, space separated) plus the ones every page uses.
  var kinds = ["call.ringing", "call.ended", "conversation.changed", "conversation.offered", "queue.changed",
    "mention", "presence.changed"];
  (document.body.getAttribute("data-kr-live-kinds") || "").split(/\s+/).forEach(function (k) {
    if (k) { kinds.push(k); }
  });
  kinds.forEach(function (kind) {
    if (seen[kind]) { return; }
    seen[kind] = true;
    source.addEventListener(kind, relay);
  });
  window.krLive = { source: source };
})();
