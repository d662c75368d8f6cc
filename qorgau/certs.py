"""A development certificate authority and the certificates of NATS and PostgreSQL.

`qorgau certs --dir var/certs` makes a CA (`ca.pem`, `ca-key.pem`) and, signed by it, a server
certificate (`server.pem`, `server-key.pem`) for the loopback names and the deploy/ host names
(nats-1..3, postgres, ...), and a client certificate (`client.pem`, `client-key.pem`) for
mutual TLS. Production brings certificates of its own CA in the same files; nothing here is
for use outside development and tests. Keys are written owner-only (0600).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from shared.keyfiles import write_private

__all__ = ["DEFAULT_HOSTS", "CertFiles", "make_certificates"]

# The names the services reach NATS and PostgreSQL by: loopback, and deploy/'s containers.
DEFAULT_HOSTS = (
    "localhost",
    "127.0.0.1",
    "::1",
    "nats",
    "nats-1",
    "nats-2",
    "nats-3",
    "nats-leaf",
    "postgres",
)
VALIDITY = timedelta(days=825)


@dataclass(frozen=True)
class CertFiles:
    """Where the CA, the server's and the client's certificates and keys are."""

    folder: Path

    @property
    def ca(self) -> Path:
        """Return the CA certificate (clients trust it)."""
        return self.folder / "ca.pem"

    @property
    def server_cert(self) -> Path:
        """Return the server certificate (NATS nodes, PostgreSQL)."""
        return self.folder / "server.pem"

    @property
    def server_key(self) -> Path:
        """Return the server's private key."""
        return self.folder / "server-key.pem"

    @property
    def client_cert(self) -> Path:
        """Return the client certificate (mutual TLS)."""
        return self.folder / "client.pem"

    @property
    def client_key(self) -> Path:
        """Return the client's private key."""
        return self.folder / "client-key.pem"


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _san(hosts: Sequence[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def _issue(
    name: str,
    key: ec.EllipticCurvePrivateKey,
    ca_name: x509.Name,
    ca_key: ec.EllipticCurvePrivateKey,
    now: datetime,
    *,
    usages: Sequence[x509.ObjectIdentifier],
    hosts: Sequence[str] = (),
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False)
    )
    if hosts:
        builder = builder.add_extension(_san(hosts), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def make_certificates(
    folder: Path, *, hosts: Sequence[str] = DEFAULT_HOSTS, now: datetime | None = None
) -> CertFiles:
    """Write a development CA and a server and a client certificate it signed into folder."""
    moment = now or datetime.now(UTC)
    files = CertFiles(Path(folder))
    files.folder.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Qorgau development CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(moment - timedelta(minutes=5))
        .not_valid_after(moment + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    write_private(files.folder / "ca-key.pem", _key_pem(ca_key))
    files.ca.write_text(_cert_pem(ca), encoding="utf-8")
    server_key = ec.generate_private_key(ec.SECP256R1())
    # Server and client use: NATS nodes present it to each other on their routes, too.
    server = _issue(
        "qorgau-server",
        server_key,
        ca_name,
        ca_key,
        moment,
        usages=(ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH),
        hosts=hosts,
    )
    write_private(files.server_key, _key_pem(server_key))
    files.server_cert.write_text(_cert_pem(server), encoding="utf-8")
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = _issue(
        "qorgau-client",
        client_key,
        ca_name,
        ca_key,
        moment,
        usages=(ExtendedKeyUsageOID.CLIENT_AUTH,),
    )
    write_private(files.client_key, _key_pem(client_key))
    files.client_cert.write_text(_cert_pem(client), encoding="utf-8")
    return files
