"""HTTP in and out: routes (one module per resource), typed dependencies, middleware,
OpenAPI, SSE, rate limits, error rendering.
"""
