"""Adapters: Bay's side of the things it talks to. `ship_client` speaks Ship's protocol
(`ship/protocol.py`) over HTTP; `loopback` forwards a port over stdio. Container engines
are behind the `Driver` protocol in `bay_mcp.drivers`; images are built by
`bay_mcp.managers.image_build`."""
