"""The CA bundle Ship writes for a proxied sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from ship import trust

CERT = "-----BEGIN CERTIFICATE-----\nTEST\n-----END CERTIFICATE-----"


def test_no_bundle_unless_the_sandbox_is_proxied(tmp_path: Path) -> None:
    assert trust.write_ca_bundle({}, tmp_path / "bundle.pem") is None
    assert not (tmp_path / "bundle.pem").exists()


def test_the_bundle_holds_the_systems_cas_and_the_egress_ca(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    system = tmp_path / "system.crt"
    system.write_text("SYSTEM CAS")
    profile = tmp_path / "profile.pem"
    profile.write_text("PROFILE CA")
    monkeypatch.setattr(trust, "SYSTEM_BUNDLE", system)
    monkeypatch.setattr(trust, "PROFILE_CA", profile)
    target = tmp_path / ".bay" / "ca-bundle.pem"
    written = trust.write_ca_bundle({trust.VARIABLE: CERT}, target)
    assert written == target
    text = target.read_text()
    assert text.index("SYSTEM CAS") < text.index("PROFILE CA") < text.index(CERT)
    assert target.stat().st_mode & 0o777 == 0o644
