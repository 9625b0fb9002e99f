"""The HTTP server: MCP (streamable HTTP and SSE) and REST `/v1` in one Starlette app."""
