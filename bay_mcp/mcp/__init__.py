"""The MCP surface: tools and cargo resources over the service layer."""
