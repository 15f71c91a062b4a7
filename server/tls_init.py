"""``python -m server tls-init``: a clinic's own certificate authority and the server's certificate.

A clinic's server has no public name a public CA would certify, and a headset's browser runs WebXR
only in a secure context. So the clinic makes its own CA once, trusts it on each tablet, headset and
desktop that talks to the server, and the server's certificate is signed by it. The CA is kept and
reused on later runs (a new server certificate for a new name or address needs no device trusted
again); private keys are written readable by their owner alone. ECDSA P-256 keys: every browser a
clinic uses accepts them.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

CA_VALID_DAYS = 10 * 365
SERVER_VALID_DAYS = 825  # the longest that Apple devices accept for a server certificate
CA_CERT, CA_KEY, SERVER_CERT, SERVER_KEY = "ca.crt", "ca.key", "server.crt", "server.key"
LOOPBACK_NAMES = ("localhost",)
LOOPBACK_IPS = ("127.0.0.1", "::1")
T = TypeVar("T")


class TLSInitError(Exception):
    """What is in the directory cannot be used (one line: what, and what to do)."""


@dataclass(frozen=True, slots=True)
class ClinicCertificates:
    """Where tls-init left the files, and what a person checks on a device before trusting them."""

    directory: Path
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    ca_created: bool
    ca_fingerprint: str  # SHA-256, colon-separated hex, as devices show it
    server_fingerprint: str
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    server_not_after: datetime


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def make_certificates(directory: Path, host: str, ips: list[str], now: datetime | None = None) -> ClinicCertificates:
    """The clinic CA in ``directory`` (made if absent, else reused) and a new server certificate
    signed by it for ``host``, the ``ips`` and localhost/127.0.0.1/::1."""
    now = now or datetime.now(UTC)
    addresses = _addresses(ips)
    dns_names = _unique([host.strip().lower(), *LOOPBACK_NAMES]) if host.strip() else list(LOOPBACK_NAMES)
    if not all(name and " " not in name for name in dns_names):
        raise TLSInitError(f"--host {host!r} is not a host name")
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)  # the keys' folder: nobody else lists it either
    paths = {name: directory / name for name in (CA_CERT, CA_KEY, SERVER_CERT, SERVER_KEY)}
    ca_cert, ca_key, created = _clinic_ca(paths[CA_CERT], paths[CA_KEY], host, now)
    key = ec.generate_private_key(ec.SECP256R1())
    not_after = min(now + timedelta(days=SERVER_VALID_DAYS), ca_cert.not_valid_after_utc)
    san: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
    san += [x509.IPAddress(address) for address in addresses]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_names[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))  # a device whose clock runs a little behind
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(paths[SERVER_KEY], key)
    # the chain a client needs after the server's own certificate: the CA's
    _write(paths[SERVER_CERT], cert.public_bytes(serialization.Encoding.PEM)
           + ca_cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return ClinicCertificates(
        directory, paths[CA_CERT], paths[CA_KEY], paths[SERVER_CERT], paths[SERVER_KEY], created,
        fingerprint(ca_cert), fingerprint(cert), tuple(dns_names), tuple(str(a) for a in addresses), not_after)


def _addresses(ips: list[str]) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    parsed = []
    for text in ips:
        try:
            parsed.append(ipaddress.ip_address(text.strip()))
        except ValueError:
            raise TLSInitError(f"--ip {text!r} is not an IP address") from None
    return _unique([*parsed, *(ipaddress.ip_address(ip) for ip in LOOPBACK_IPS)])


def _unique(items: list[T]) -> list[T]:
    return list(dict.fromkeys(items))


def _clinic_ca(cert_path: Path, key_path: Path, host: str,
               now: datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey, bool]:
    """The CA kept from an earlier run, or a new one; created says which."""
    if cert_path.exists() or key_path.exists():
        try:
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        except (OSError, ValueError) as exc:
            raise TLSInitError(f"the clinic CA in {cert_path.parent} cannot be read ({exc}); move {CA_CERT} and "
                               f"{CA_KEY} away to make a new CA (every device must then trust the new one)") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
            raise TLSInitError(f"{key_path} is not the key of {cert_path}")
        if cert.not_valid_after_utc <= now + timedelta(days=30):
            raise TLSInitError(f"the clinic CA {cert_path} expires on {cert.not_valid_after_utc:%Y-%m-%d}: move "
                               f"{CA_CERT} and {CA_KEY} away to make a new one, and trust it on every device")
        return cert, key, False
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "StrideVR clinic"),
        x509.NameAttribute(NameOID.COMMON_NAME, f"StrideVR clinic CA {host or 'local'} {now:%Y-%m-%d}"[:64]),
    ])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=CA_VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_key(key_path, key)
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return cert, key, True


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    _write(path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()), 0o600)


def _write(path: Path, data: bytes, mode: int) -> None:
    """Written whole under a temporary name, then renamed: created with ``mode`` (a key is never
    readable by others, not even for an instant), and a crash leaves the old file or the new."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)  # whatever the umask
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)


def instructions(made: ClinicCertificates, port: int) -> str:
    """What tls-init prints: the files, their fingerprints, how to serve and how to trust the CA."""
    host = made.dns_names[0]
    lines = [
        f"clinic CA {'created' if made.ca_created else 'kept (already there)'}: {made.ca_cert}",
        f"  CA private key   : {made.ca_key} (mode 600; keep it off the network; back it up offline)",
        f"  CA SHA-256       : {made.ca_fingerprint}",
        f"server certificate : {made.server_cert} (valid until {made.server_not_after:%Y-%m-%d})",
        f"  server key       : {made.server_key} (mode 600)",
        f"  server SHA-256   : {made.server_fingerprint}",
        f"  names            : {', '.join(made.dns_names + made.ip_addresses)}",
        "",
        "Serve with it (every interface; the one port serves https:// and wss://):",
        f"  python -m server --host 0.0.0.0 --port {port} --tls-cert {made.server_cert} "
        f"--tls-key {made.server_key} serve",
        f"  panel: https://{host}:{port}/   headset page: https://{host}:{port}/xr",
        f"  tools: --url wss://{host}:{port} --ca-file {made.ca_cert}",
        "",
        f"Trust the clinic CA ({made.ca_cert.name}; public, copy it freely) on each device, after checking",
        "that the SHA-256 fingerprint the device shows is the CA SHA-256 above:",
        "  Android tablet: copy it over (USB, or `adb push "
        f"{made.ca_cert} /sdcard/Download/`), then Settings > Security > Encryption & credentials >",
        "    Install a certificate > CA certificate, and pick it (Chrome trusts it from then on).",
        "  iPad / iPhone: send it by AirDrop or mail, or download it in Safari; Settings > General >",
        "    VPN & Device Management > install the profile; then Settings > General > About >",
        "    Certificate Trust Settings > turn on full trust for it.",
        "  Meta Quest / Pico: where the headset's settings offer no certificate installer, open the https",
        "    address in its browser, check that the certificate it shows has the server SHA-256 above and",
        "    accept it, or use the USB localhost route below (no certificate needed).",
        "  Desktop: Windows: open it > Install Certificate > Local Machine > Trusted Root Certification",
        "    Authorities. macOS: `sudo security add-trusted-cert -d -r trustRoot -k",
        f"    /Library/Keychains/System.keychain {made.ca_cert}`. Linux Chrome/Chromium: Settings > Privacy",
        "    and security > Security > Manage certificates > Authorities > Import. Firefox (every",
        "    system): Settings > Privacy & Security > View Certificates > Authorities > Import.",
        "",
        "A Quest on USB without any certificate: with developer mode on and the headset plugged in,",
        f"  adb reverse tcp:{port} tcp:{port}",
        f"makes the server the headset's own localhost: open http://localhost:{port}/xr in its browser",
        "(localhost is a secure context, so WebXR runs) while the server listens on 127.0.0.1.",
    ]
    return "\n".join(lines)


DEFAULT_DIR = "data/tls"  # beside the default database, under the working directory; git ignores data/


def default_dir(database_url: str) -> Path:
    """``tls/`` beside an SQLite database file (the data directory: ``data/`` by default), else
    ``data/tls``; env ``STRIDEVR_TLS_DIR`` first."""
    if named := os.environ.get("STRIDEVR_TLS_DIR"):
        return Path(named)
    try:
        url = make_url(database_url)
    except ArgumentError:
        return Path(DEFAULT_DIR)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).parent / "tls"
    return Path(DEFAULT_DIR)


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("tls-init", help="make the clinic CA (once) and a server certificate signed by it")
    p.add_argument("--host", dest="cert_host", required=True,
                   help="the name devices use to reach the server, e.g. stridevr.clinic.lan")
    p.add_argument("--ip", dest="cert_ips", action="append", default=[],
                   help="an address devices use to reach the server (repeat for several); "
                        "localhost, 127.0.0.1 and ::1 are always in")
    p.add_argument("--dir", dest="cert_dir", type=Path, default=None,
                   help="where the CA and certificates are kept (default: tls/ beside the SQLite database, "
                        f"{DEFAULT_DIR} for the default one or with PostgreSQL; env STRIDEVR_TLS_DIR)")


def run(args: argparse.Namespace, port: int, database_url: str) -> int:
    """Exit status 0 made (instructions printed), 2 refused (bad name, unusable files)."""
    try:
        made = make_certificates(args.cert_dir or default_dir(database_url), args.cert_host, args.cert_ips)
    except (TLSInitError, OSError) as exc:
        print(f"error: tls-init: {exc}", file=sys.stderr)
        return 2
    print(instructions(made, port))
    return 0
