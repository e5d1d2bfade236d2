"""C2PA test material made in the test: a throw-away CA and signer certificate (``cryptography``),
a small JPEG, and manifests signed with c2pa-python; nothing comes from the internet.
Shared by tests/test_provenance.py and tests/test_file_evidence.py."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

c2pa = pytest.importorskip("c2pa", reason="c2pa-python is not installed")
x509 = pytest.importorskip("cryptography.x509", reason="cryptography is not installed")

from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "imlforensic tests")])


@pytest.fixture(scope="module")
def credentials() -> dict[str, bytes]:
    """A CA and an ES256 signing certificate with the extensions C2PA requires (not self-signed,
    digitalSignature, an allowed extended key usage)."""
    now = dt.datetime.now(dt.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())

    def usage(sign: bool) -> x509.KeyUsage:
        return x509.KeyUsage(digital_signature=sign, content_commitment=False, key_encipherment=False, data_encipherment=False,
                             key_agreement=False, key_cert_sign=not sign, crl_sign=not sign, encipher_only=False, decipher_only=False)

    def builder(subject: str, public_key) -> x509.CertificateBuilder:
        return (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name("imlforensic test CA"))
                .public_key(public_key).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=7))
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False))

    ca = (builder("imlforensic test CA", ca_key.public_key())
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(usage(False), critical=True).sign(ca_key, hashes.SHA256()))
    leaf = (builder("imlforensic test signer", key.public_key())
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage(True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    return {
        "chain": leaf.public_bytes(pem) + ca.public_bytes(pem),
        "key": key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        "ca": ca.public_bytes(pem),
    }


def _picture(seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:96, 0:128]
    rgb = np.stack([xx * 2, yy * 2, (xx + yy)], axis=2) + rng.integers(0, 20, (96, 128, 3))
    buffer = io.BytesIO()
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _sign(credentials: dict[str, bytes], source: bytes, actions: list[dict], generator: str = "TestImageGen") -> bytes:
    manifest = {
        "claim_generator_info": [{"name": generator, "version": "2.1"}],
        "title": "picture.jpg",
        "assertions": [{"label": "c2pa.actions", "data": {"actions": actions}}],
    }
    context = c2pa.Context.from_dict({"builder": {"thumbnail": {"enabled": False}}})
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(b"es256", credentials["chain"], credentials["key"], None))
    out = io.BytesIO()
    with c2pa.Builder(manifest, context) as builder:
        builder.sign(signer, "image/jpeg", io.BytesIO(source), out)
    return out.getvalue()


def _generated(credentials: dict[str, bytes], tmp_path: Path) -> Path:
    signed = _sign(credentials, _picture(), [{"action": "c2pa.created", "digitalSourceType": IPTC + "trainedAlgorithmicMedia",
                                             "softwareAgent": {"name": "TestImageGen", "version": "2.1"}}])
    path = tmp_path / "generated.jpg"
    path.write_bytes(signed)
    return path
