"""Adapters: Bay's side of the things it talks to. `ship_client` speaks Ship's protocol
(`ship/protocol.py`) over HTTP; `image_build` makes the Ship image. Container engines
are behind the `Driver` protocol in `bay_mcp.drivers`."""
