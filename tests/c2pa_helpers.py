"""C2PA test material made in the test: a throw-away CA and signer certificate (``cryptography``),
a small JPEG, and manifests signed with c2pa-python; nothing comes from the internet.
Shared by tests/test_provenance.py and tests/test_file_evidence.py (each wraps
:func:`make_credentials` in a module fixture)."""

from __future__ import annotations

import datetime as dt
import functools
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
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "imlforensic tests"),
        ]
    )


@functools.lru_cache(maxsize=1)
def make_credentials() -> dict[str, bytes]:
    """A CA and an ES256 signing certificate with the extensions C2PA requires (not self-signed,
    digitalSignature, an allowed extended key usage)."""
    now = dt.datetime.now(dt.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())

    def usage(sign: bool) -> x509.KeyUsage:
        return x509.KeyUsage(
            digital_signature=sign,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=not sign,
            crl_sign=not sign,
            encipher_only=False,
            decipher_only=False,
        )

    def builder(subject: str, public_key) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(_name(subject))
            .issuer_name(_name("imlforensic test CA"))
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=7))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        )

    ca = (
        builder("imlforensic test CA", ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage(False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        builder("imlforensic test signer", key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage(True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return {
        "chain": leaf.public_bytes(pem) + ca.public_bytes(pem),
        "key": key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        "ca": ca.public_bytes(pem),
    }


def picture(seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:96, 0:128]
    rgb = np.stack([xx * 2, yy * 2, (xx + yy)], axis=2) + rng.integers(0, 20, (96, 128, 3))
    buffer = io.BytesIO()
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def sign(credentials: dict[str, bytes], source: bytes, actions: list[dict], generator: str = "TestImageGen") -> bytes:
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


def generated_file(credentials: dict[str, bytes], tmp_path: Path) -> Path:
    signed = sign(
        credentials,
        picture(),
        [
            {
                "action": "c2pa.created",
                "digitalSourceType": IPTC + "trainedAlgorithmicMedia",
                "softwareAgent": {"name": "TestImageGen", "version": "2.1"},
            }
        ],
    )
    path = tmp_path / "generated.jpg"
    path.write_bytes(signed)
    return path


def _segments(jpeg: bytes) -> list[tuple[int, int, int]]:
    """(marker, start, end) of the marker segments before the picture data (SOS)."""
    found, i = [], 2
    while i + 4 <= len(jpeg) and jpeg[i] == 0xFF and jpeg[i + 1] != 0xDA:
        end = i + 2 + int.from_bytes(jpeg[i + 2 : i + 4], "big")
        found.append((jpeg[i + 1], i, end))
        i = end
    return found


def change_pixels(signed: bytes) -> bytes:
    """The signed picture with a block of its pixels painted over and saved again (a valid JPEG),
    its C2PA manifest (the APP11 segments) put back where it was: the manifest no longer matches."""
    rgb = np.asarray(Image.open(io.BytesIO(signed)).convert("RGB")).copy()
    rgb[20:50, 30:70] = (200, 30, 30)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=90)
    edited = buffer.getvalue()
    app11 = [(a, b) for marker, a, b in _segments(signed) if marker == 0xEB]
    assert app11, "no C2PA manifest in the signed picture"
    manifest = b"".join(signed[a:b] for a, b in app11)
    at = min(app11[0][0], _segments(edited)[-1][2])
    return edited[:at] + manifest + edited[at:]


def composite_actions() -> list[dict]:
    """A camera capture, then an AI edit (generative fill), as an editor's manifest says."""
    return [
        {"action": "c2pa.created", "digitalSourceType": IPTC + "digitalCapture", "softwareAgent": "TestCamera 1.0"},
        {
            "action": "c2pa.edited",
            "digitalSourceType": IPTC + "compositeWithTrainedAlgorithmicMedia",
            "softwareAgent": "TestEditor Generative Fill",
        },
    ]


def xmp_declaring(term: str) -> bytes:
    """An XMP packet whose IPTC ``DigitalSourceType`` is ``term`` (attribute form)."""
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
        f'Iptc4xmpExt:DigitalSourceType="{IPTC}{term}"/></rdf:RDF></x:xmpmeta>'
    ).encode()
