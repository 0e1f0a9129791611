// Swagger UI for this daemon's own OpenAPI document (an external file: the page's
// Content-Security-Policy allows no inline script). No validator badge: it would call
// validator.swagger.io.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
