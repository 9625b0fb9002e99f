"""The egress tests' "outside": a container on the proxy's outside network serving HTTP,
HTTPS (certificates of a test CA for the test host names), a PEP 503 index of real
wheels, and TCP and UDP "pong" listeners (outside.py). Sandboxes reach it only through
the egress proxy, which resolves the test names to it (BAY_EGRESS__HOSTS). No traffic
leaves the machine: the wheels are downloaded by the host, once, from the package
registry."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bay_mcp.drivers.docker_egress import OUTSIDE_BRIDGE, OUTSIDE_NETWORK
from bay_mcp.limits import DEFAULT_IMAGE
from tests.integration.conftest import docker

HOSTS = ("api.egress.test", "other.egress.test", "blocked.egress.test", "pypi.egress.test")
HOST_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
WHEEL_CACHE = Path(tempfile.gettempdir()) / "bay-egress-test-wheels"
READY_S = 60.0


@dataclass(frozen=True)
class Outside:
    container: str
    address: str
    # The test CA alone (the proxy trusts it upstream), and the host's bundle with it
    # (a profile's ca_bundle: sandboxes trust it through the bundle Ship writes).
    ca: Path
    bundle: Path

    def egress_env(self) -> dict[str, str]:
        return {
            "BAY_EGRESS__HOSTS": json.dumps(dict.fromkeys(HOSTS, self.address)),
            "BAY_EGRESS__UPSTREAM_CA": str(self.ca),
        }


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _certificates(folder: Path) -> None:
    """ca.pem (a test CA), cert.pem and key.pem (every test name, signed by it)."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Bay egress test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOSTS[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in HOSTS]), False)
        .add_extension(x509.ExtendedKeyUsage([x509.OID_SERVER_AUTH]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (folder / "cert.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(_key_pem(key))
    (folder / "key.pem").chmod(0o644)  # read by the outside's server in its container


def _wheels(target: Path) -> None:
    """requests and what it needs, as wheels for the sandbox's Python (3.11, x86-64)."""
    if not any(WHEEL_CACHE.glob("requests-*.whl")):
        WHEEL_CACHE.mkdir(exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:",
             "--python-version", "3.11", "--platform", "manylinux2014_x86_64",
             "--dest", str(WHEEL_CACHE), "requests==2.32.5"],
            check=True, timeout=300,
        )  # fmt: skip
    shutil.copytree(WHEEL_CACHE, target)


def _ensure_network() -> None:
    """The proxy's outside network, as Bay makes it (docker_egress.py)."""
    made = subprocess.run(
        ["docker", "network", "create", "--label", "bay.managed=true",
         "--opt", f"com.docker.network.bridge.name={OUTSIDE_BRIDGE}", OUTSIDE_NETWORK],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if made.returncode != 0 and "already exists" not in made.stderr:
        raise RuntimeError(f"creating {OUTSIDE_NETWORK}: {made.stderr}")


@contextmanager
def outside() -> Iterator[Outside]:
    folder = Path(tempfile.mkdtemp(prefix="bay-egress-outside-"))
    folder.chmod(0o755)
    name = f"bay-test-outside-{secrets.token_hex(4)}"
    try:
        _certificates(folder)
        _wheels(folder / "wheels")
        shutil.copy(Path(__file__).with_name("outside.py"), folder / "outside.py")
        bundle = folder / "bundle.pem"
        bundle.write_text(HOST_BUNDLE.read_text() + "\n" + (folder / "ca.pem").read_text())
        _ensure_network()
        docker(
            "run", "-d", "--name", name, "--network", OUTSIDE_NETWORK,
            "--label", "bay.test=integration", "-v", f"{folder}:/srv:ro",
            "--entrypoint", "/opt/ship/bin/python", DEFAULT_IMAGE, "/srv/outside.py",
        )  # fmt: skip
        deadline = time.monotonic() + READY_S
        while "outside ready" not in docker("logs", name, check=False) + _stderr(name):
            assert time.monotonic() < deadline, docker("logs", name, check=False)
            time.sleep(0.1)
        address = docker(
            "inspect",
            "-f",
            f'{{{{(index .NetworkSettings.Networks "{OUTSIDE_NETWORK}").IPAddress}}}}',
            name,
        )
        ip_address(address)  # a real address, or the inspection went wrong
        yield Outside(name, address, folder / "ca.pem", bundle)
    finally:
        docker("rm", "-f", name, check=False)
        shutil.rmtree(folder, ignore_errors=True)


def _stderr(name: str) -> str:
    found = subprocess.run(["docker", "logs", name], capture_output=True, text=True, check=False)
    return found.stderr
