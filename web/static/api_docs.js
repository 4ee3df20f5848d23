// The API reference at /api/v1/docs: Swagger UI (vendored, served by the box) over the
// box's own OpenAPI document. validatorUrl null: Swagger UI would otherwise send the
// document to validator.swagger.io for a badge, and the box has no internet.
window.addEventListener("DOMContentLoaded", function () {
  window.ui = SwaggerUIBundle({
    url: "/api/v1/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    defaultModelsExpandDepth: 0,
    displayRequestDuration: true,
  });
});
