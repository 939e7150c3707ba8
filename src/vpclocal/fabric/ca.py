"""vpclocal's local certificate authority: the trust behind HTTPS on the simulated internet.

    ca = CertificateAuthority(data_dir / "ca")     # creates the CA once, reuses it after
    ctx = ca.context("api.stripe.com")             # a server SSLContext for that name
    ca.bundle                                      # public roots + our CA, for clients
    trust_env(data_dir)                            # the variables that make clients use it

Layout of `<data_dir>/ca/`: `ca.pem` (the CA certificate, world-readable: functions load it),
`ca-key.pem` (its key, 0600), `bundle.pem` (the host's public roots followed by our CA,
rewritten at every start), and `hosts/<CA fingerprint>/<hash of the name>.pem` (leaf key and
certificate per name, minted on demand): leaves sit under their CA's fingerprint, so a new CA
never serves a leaf signed by an old one. Leaves are ECDSA P-256 (a millisecond to mint).

An AWS service endpoint and the names one label under it (a virtual-hosted S3 bucket:
`photos.s3.us-east-1.amazonaws.com`) share the service's certificate
(`s3.us-east-1.amazonaws.com` + `*.s3.us-east-1.amazonaws.com`), as AWS serves, so every
bucket shares one leaf. A client that sends no SNI (it connected to an address) gets a leaf
for that address.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import ssl
import threading
from collections import OrderedDict
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from vpclocal.network.names import aws_service

CA_NAME = "vpclocal local CA"
CA_DAYS = 3650
LEAF_DAYS = 397  # the longest validity public CAs may issue; clients accept it
RENEW_BEFORE = datetime.timedelta(days=7)
CONTEXTS = 512  # server contexts kept in memory (least recently used dropped)
# Where the host keeps its public roots (Debian/Ubuntu, Fedora/RHEL, Alpine/SUSE).
SYSTEM_BUNDLES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt",
                  "/etc/ssl/ca-bundle.pem")


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write atomically (a reader never sees half a file) with the given mode."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def cert_names(name: str) -> list[str]:
    """The names a leaf for `name` carries (see the module docstring)."""
    service = aws_service(name)
    if service is None:
        return [name]
    labels = name.split(".")
    # from the service's own label on: photos.s3.us-east-1.amazonaws.com -> s3.us-east-1...
    depth = labels.index(service) if service in labels else 0
    endpoint = ".".join(labels[depth:])
    return [endpoint, "*." + endpoint]


def _public_roots() -> bytes:
    for path in (ssl.get_default_verify_paths().cafile, *SYSTEM_BUNDLES):
        if path and os.path.isfile(path):
            return Path(path).read_bytes()
    try:
        import certifi
    except ImportError:
        return b""
    return Path(certifi.where()).read_bytes()


class CertificateAuthority:
    def __init__(self, directory: str | Path) -> None:
        self.dir = Path(directory)
        self.cert_path = self.dir / "ca.pem"
        self.key_path = self.dir / "ca-key.pem"
        self.bundle = self.dir / "bundle.pem"
        self._lock = threading.Lock()
        self._contexts: OrderedDict[str, ssl.SSLContext] = OrderedDict()
        self._load_or_create()
        fingerprint = self.cert.fingerprint(hashes.SHA256()).hex()[:16]
        self.hosts = self.dir / "hosts" / fingerprint
        self.hosts.mkdir(parents=True, exist_ok=True)
        roots = _public_roots()
        _write(self.bundle, roots + (b"" if roots.endswith(b"\n") or not roots else b"\n")
               + self.cert_pem)

    # ---- the CA itself --------------------------------------------------------------------

    def _load_or_create(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o755)  # functions may run as another user: they read ca.pem
        if self.cert_path.is_file() and self.key_path.is_file():
            self.cert_pem = self.cert_path.read_bytes()
            self.cert = x509.load_pem_x509_certificate(self.cert_pem)
            self.key = serialization.load_pem_private_key(self.key_path.read_bytes(), None)
            if self.cert.not_valid_after_utc - RENEW_BEFORE > _now():
                return
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME),
                             x509.NameAttribute(NameOID.ORGANIZATION_NAME, "vpclocal")])
        now = _now()
        public = self.key.public_key()
        self.cert = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(public).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(self.key, hashes.SHA256()))
        self.cert_pem = self.cert.public_bytes(serialization.Encoding.PEM)
        _write(self.key_path, _key_pem(self.key), 0o600)
        _write(self.cert_path, self.cert_pem)

    # ---- leaves ---------------------------------------------------------------------------

    def leaf(self, names: list[str]) -> Path:
        """A PEM file holding a key and a certificate (then the CA's) for these names
        (DNS names or IP addresses), minted once and kept on disk."""
        path = self.hosts / (hashlib.sha256("\n".join(names).encode()).hexdigest()[:32] + ".pem")
        if path.is_file():
            cert = x509.load_pem_x509_certificate(path.read_bytes())
            if cert.not_valid_after_utc - RENEW_BEFORE > _now():
                return path
        key = ec.generate_private_key(ec.SECP256R1())
        sans: list[x509.GeneralName] = []
        for name in names:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                sans.append(x509.DNSName(name))
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0][:64])]))
            .issuer_name(self.cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=LEAF_DAYS))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256()))
        _write(path, _key_pem(key) + cert.public_bytes(serialization.Encoding.PEM)
               + self.cert_pem, 0o600)
        return path

    def context(self, name: str) -> ssl.SSLContext:
        """A server context presenting a certificate for `name` (a DNS name or an address)."""
        name = name.lower().rstrip(".")
        with self._lock:
            ctx = self._contexts.get(name)
            if ctx is not None:
                self._contexts.move_to_end(name)
                return ctx
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.leaf(cert_names(name)))
        with self._lock:
            self._contexts[name] = ctx
            while len(self._contexts) > CONTEXTS:
                self._contexts.popitem(last=False)
        return ctx

    def server_context(self, address: str) -> ssl.SSLContext:
        """The context a TLS connection to `address` starts with: a certificate for the
        address, switched to one for the client's SNI name when it sends one (the name is
        then the SSL object's `sni` attribute)."""
        key = "address:" + address
        with self._lock:
            ctx = self._contexts.get(key)
        if ctx is not None:
            return ctx
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.leaf([address]))

        def pick(ssl_object, server_name, _ctx):
            ssl_object.sni = server_name
            if server_name:
                try:
                    ssl_object.context = self.context(server_name)
                except (ValueError, OSError, ssl.SSLError):
                    pass  # a name no certificate can carry: the address's one is shown

        ctx.sni_callback = pick
        with self._lock:
            self._contexts[key] = ctx
        return ctx


def trust_env(data_dir: str | Path) -> dict[str, str]:
    """Environment variables that make clients (boto3, requests, urllib, OpenSSL, curl,
    Node.js) trust the local CA besides the public roots."""
    directory = Path(data_dir).resolve() / "ca"
    bundle = str(directory / "bundle.pem")
    return {"AWS_CA_BUNDLE": bundle, "REQUESTS_CA_BUNDLE": bundle, "SSL_CERT_FILE": bundle,
            "CURL_CA_BUNDLE": bundle, "NODE_EXTRA_CA_CERTS": str(directory / "ca.pem")}
