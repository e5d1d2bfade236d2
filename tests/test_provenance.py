"""Provenance on files signed in the test: a throw-away CA and signer certificate are made with
``cryptography``, manifests are signed with c2pa-python, nothing comes from the internet."""

from __future__ import annotations

import http.server
import io
import json
import threading
from pathlib import Path

import pytest
from exif_helpers import exif_block
from PIL import Image

c2pa = pytest.importorskip("c2pa", reason="c2pa-python is not installed")
pytest.importorskip("cryptography.x509", reason="cryptography is not installed")

from c2pa_helpers import IPTC, change_pixels, composite_actions, generated_file, make_credentials, picture, sign  # noqa: E402

from imlforensic.forensics.provenance import declared_ai, read_c2pa, read_provenance, xmp_digital_source_types  # noqa: E402


@pytest.fixture(scope="module")
def credentials() -> dict[str, bytes]:
    return make_credentials()


def test_a_signed_generated_picture_is_declared_generated_with_its_generator(credentials, tmp_path: Path) -> None:
    path = generated_file(credentials, tmp_path)
    provenance = read_provenance(path)
    c = provenance.c2pa
    assert c.status == "untrusted_signer" and c.content_matches is True  # no trust list given
    assert c.claim_generator == "TestImageGen 2.1" and c.generator == "TestImageGen 2.1"
    assert c.signer == "imlforensic test signer / imlforensic tests"
    assert [(a.action, a.digital_source_type) for a in c.actions] == [("c2pa.created", "trainedAlgorithmicMedia")]
    assert c.digital_source_types == ["trainedAlgorithmicMedia"] and c.declares == "generated"
    declaration = declared_ai(provenance)
    assert declaration is not None and (declaration.kind, declaration.source, declaration.signed) == ("generated", "c2pa", True)
    assert "TestImageGen 2.1" in declaration.reason and "not on a trust list" in declaration.reason
    record = json.loads(json.dumps(provenance.to_json()))
    assert record["c2pa"]["generator"] == "TestImageGen 2.1" and record["declared_ai"]["kind"] == "generated"

    trusted = read_c2pa(path, trust_anchors=credentials["ca"].decode())
    assert trusted.status == "valid" and "on the trust list" in trusted.message


def test_pixels_changed_after_signing_no_longer_match(credentials, tmp_path: Path) -> None:
    path = tmp_path / "changed.jpg"
    path.write_bytes(change_pixels(generated_file(credentials, tmp_path).read_bytes()))
    Image.open(path).load()  # still a decodable picture, with other pixels
    provenance = read_provenance(path)
    c = provenance.c2pa
    assert c.status == "invalid" and c.content_matches is False
    assert any(f.startswith("assertion.dataHash.mismatch") for f in c.failures)
    assert "NO LONGER MATCHES" in c.message and c.generator == "TestImageGen 2.1"
    assert declared_ai(provenance) is None  # a broken manifest declares nothing about these pixels
    assert any("no longer matches" in note for note in provenance.notes)


def test_no_manifest_is_stated(tmp_path: Path) -> None:
    path = tmp_path / "plain.jpg"
    path.write_bytes(picture(3))
    provenance = read_provenance(path)
    assert provenance.c2pa.status == "no_manifest" and provenance.c2pa.message == "The file carries no C2PA manifest."
    assert declared_ai(provenance) is None and provenance.to_json()["declared_ai"] is None


def test_an_ai_edit_of_a_camera_picture_is_declared_edited(credentials, tmp_path: Path) -> None:
    signed = sign(credentials, picture(1), composite_actions(), generator="TestEditor")
    path = tmp_path / "edited.jpg"
    path.write_bytes(signed)
    provenance = read_provenance(path)
    assert provenance.c2pa.declares == "edited" and provenance.c2pa.generator == "TestCamera 1.0"
    declaration = declared_ai(provenance)
    assert declaration is not None and declaration.kind == "edited" and "compositeWithTrainedAlgorithmicMedia" in declaration.reason


def test_a_generated_parent_edited_later_is_still_generated(credentials, tmp_path: Path) -> None:
    parent = generated_file(credentials, tmp_path).read_bytes()
    cropped = io.BytesIO()
    Image.open(io.BytesIO(parent)).crop((0, 0, 96, 80)).save(cropped, "JPEG", quality=90)
    manifest = {"claim_generator_info": [{"name": "TestEditor"}], "assertions": [{"label": "c2pa.actions", "data": {"actions": [
        {"action": "c2pa.opened", "parameters": {"ingredientIds": ["parent"]}}, {"action": "c2pa.cropped"}]}}]}
    context = c2pa.Context.from_dict({"builder": {"thumbnail": {"enabled": False}}})
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(b"es256", credentials["chain"], credentials["key"], None))
    out = io.BytesIO()
    with c2pa.Builder(manifest, context) as builder:
        builder.add_ingredient({"title": "generated.jpg", "relationship": "parentOf", "label": "parent"}, "image/jpeg", io.BytesIO(parent))
        builder.sign(signer, "image/jpeg", io.BytesIO(cropped.getvalue()), out)
    path = tmp_path / "cropped.jpg"
    path.write_bytes(out.getvalue())
    c = read_c2pa(path)
    assert c.manifests == 2 and c.claim_generator == "TestEditor" and c.generator == "TestImageGen 2.1"
    assert [a.action for a in c.actions] == ["c2pa.opened", "c2pa.cropped", "c2pa.created"]
    assert c.declares == "generated" and c.status == "untrusted_signer" and c.content_matches is True


@pytest.mark.parametrize("xmp, kind", [
    (f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
     f'<rdf:Description xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
     f'Iptc4xmpExt:DigitalSourceType="{IPTC}trainedAlgorithmicMedia"/></rdf:RDF></x:xmpmeta>', "generated"),
    (f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
     f'<rdf:Description xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/">'
     f'<Iptc4xmpExt:DigitalSourceType>{IPTC}compositeWithTrainedAlgorithmicMedia</Iptc4xmpExt:DigitalSourceType>'
     f'</rdf:Description></rdf:RDF></x:xmpmeta>', "edited"),
])
def test_xmp_digital_source_type_is_read_from_a_jpeg(tmp_path: Path, xmp: str, kind: str) -> None:
    path = tmp_path / "x.jpg"
    Image.open(io.BytesIO(picture(2))).save(path, "JPEG", quality=90, xmp=xmp.encode())
    provenance = read_provenance(path)
    assert provenance.c2pa.status == "no_manifest"
    assert provenance.xmp_digital_source_types == ["trainedAlgorithmicMedia" if kind == "generated" else "compositeWithTrainedAlgorithmicMedia"]
    declaration = declared_ai(provenance)
    assert declaration is not None and (declaration.kind, declaration.source, declaration.signed) == (kind, "xmp", False)


def test_xmp_resource_form_and_exif_software(tmp_path: Path) -> None:
    assert xmp_digital_source_types(b'<Iptc4xmpExt:DigitalSourceType rdf:resource="' + IPTC.encode() + b'digitalCapture"/>') == ["digitalCapture"]
    path = tmp_path / "mj.jpg"
    Image.open(io.BytesIO(picture(4))).save(path, "JPEG", exif=exif_block({0x0131: "Midjourney v6"}))
    provenance = read_provenance(path)
    assert provenance.software == ["Midjourney v6"] and provenance.generators_named == ["Midjourney"]
    declaration = declared_ai(provenance)
    assert declaration is not None and declaration.kind == "generated" and declaration.source == "metadata"


def test_a_remote_manifest_is_never_fetched(tmp_path: Path) -> None:
    requests: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            requests.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/manifest.c2pa"
        xmp = (f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
               f'<rdf:Description xmlns:dcterms="http://purl.org/dc/terms/" dcterms:provenance="{url}"/></rdf:RDF></x:xmpmeta>')
        path = tmp_path / "remote.jpg"
        Image.open(io.BytesIO(picture(5))).save(path, "JPEG", xmp=xmp.encode())
        result = read_c2pa(path)
    finally:
        server.shutdown()
    assert requests == []  # (with the library's remote_manifest_fetch on, it asks the server for /manifest.c2pa)
    assert result.status == "remote_manifest" and url in result.message, result


def _read_in_child(path: str, queue) -> None:
    queue.put(read_c2pa(path).status)


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork()")
def test_reading_works_in_a_forked_worker(credentials, tmp_path: Path) -> None:
    import multiprocessing

    path = generated_file(credentials, tmp_path)
    assert read_c2pa(path).status == "untrusted_signer"  # the parent has made its library context
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    worker = context.Process(target=_read_in_child, args=(str(path), queue))
    worker.start()
    worker.join(60)
    assert queue.get(timeout=5) == "untrusted_signer"  # not "unreadable": the child makes its own


def _store(failures: list[str], state: str, successes: tuple[str, ...] = ("assertion.dataHash.match",)) -> dict:
    manifest = {"claim_generator_info": [{"name": "ChatGPT"}], "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": [
        {"action": "c2pa.created", "digitalSourceType": IPTC + "trainedAlgorithmicMedia", "softwareAgent": {"name": "GPT-4o"}}]}}]}
    return {"active_manifest": "m", "manifests": {"m": manifest}, "validation_state": state,
            "validation_results": {"activeManifest": {"success": [{"code": c} for c in successes],
                                                      "failure": [{"code": c} for c in failures]}}}


@pytest.mark.parametrize("failures, state, status", [
    ([], "Trusted", "valid"),
    (["signingCredential.untrusted"], "Valid", "untrusted_signer"),
    (["signingCredential.untrusted", "timeStamp.untrusted"], "Invalid", "untrusted_signer"),  # trust only: intact
    (["signingCredential.expired"], "Invalid", "invalid"),
    (["claimSignature.mismatch"], "Invalid", "invalid"),
])
def test_validation_states_are_mapped(failures: list[str], state: str, status: str) -> None:
    from imlforensic.forensics.provenance import Provenance, c2pa_from_store

    result = c2pa_from_store(_store(failures, state))
    assert result.status == status and result.content_matches is True and result.generator == "GPT-4o"
    declaration = declared_ai(Provenance(c2pa=result))
    assert (declaration is not None) == (status != "invalid")
