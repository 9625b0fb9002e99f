"""Handlers of `/v1/profiles`: the profiles a sandbox can be created from."""

from __future__ import annotations

from rest import models
from rest.endpoint import Call, Result, dump


async def list_profiles(call: Call) -> Result:
    items = [
        models.ProfileItem(
            id=p.id,
            image=p.image,
            resources=models.ProfileResources(cpus=p.cpus, memory=f"{p.memory_mb}m"),
            capabilities=p.capabilities,
            idle_timeout=p.idle_timeout_seconds,
            description=p.description if call.query.detail else None,
        )
        for p in call.bay.sandboxes.profiles()
    ]
    return 200, dump(models.ProfileList(items=items))
