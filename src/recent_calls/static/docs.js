// The API docs page: swagger-ui (served by this server from a pinned package) over the
// server's own OpenAPI document. Nothing is fetched from elsewhere: the validator badge, which
// would send the document to a public validator, is off.

window.SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
});
