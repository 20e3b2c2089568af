"""`spriteforge serve`: the HTTP API (/api/v1, OpenAPI at /docs) and the studio, one local FastAPI app."""
