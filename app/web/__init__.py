"""HTTP plumbing shared by every feature: the route class and body handling, middleware, the
error family and its handlers, pagination, JSON responses, the OpenAPI document, and the
operational routes (/healthz, /readyz, /metrics, /docs)."""
