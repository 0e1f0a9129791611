// ReDoc for this daemon's own OpenAPI document (external: no inline script under the CSP).
Redoc.init("/openapi.json", { disableSearch: false, hideDownloadButton: false },
  document.getElementById("redoc"));
