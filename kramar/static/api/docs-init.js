/* Starts Swagger UI on /api/v1/docs from local files (no CDN, no inline script). Unsafe requests made
   with the session cookie carry the CSRF token read from the csrftoken cookie. */
(function () {
  function cookie(name) {
    var match = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return match ? decodeURIComponent(match[1]) : null;
  }
  window.ui = SwaggerUIBundle({
    url: document.body.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    layout: "BaseLayout",
    presets: [SwaggerUIBundle.presets.apis],
    requestInterceptor: function (req) {
      var token = cookie("csrftoken");
      if (token && !req.headers["Authorization"]) {
        req.headers["X-CSRFToken"] = token;
      }
      return req;
    },
  });
})();
