"""What the file says beside its pixels, read once per image, and the verdict rule for declared provenance.

:func:`read_file_evidence` reads the file's provenance (C2PA, XMP ``DigitalSourceType``,
:mod:`imlforensic.forensics.provenance`), its metadata (EXIF fields, the EXIF thumbnail against
the picture, :mod:`imlforensic.forensics.metadata`) and, for a JPEG, its structure
(quantisation tables, quality, table family, double-compression estimate,
:mod:`imlforensic.forensics.jpeg`) from the very bytes that were decoded: from ``data`` when the
caller still has them, else from the file again, used only if its sha256 is the decoded image's
(a file replaced in between is said, not read). The readers never raise; the whole step costs
about 0.1 s of CPU for a 1-megapixel JPEG, most of it the double-compression estimate
(:class:`EvidenceOptions` can leave it out).

:func:`declared_provenance_verdict` is the one place where that evidence changes a verdict:

* a picture declared generated (IPTC ``trainedAlgorithmicMedia`` on its creation) by an intact
  C2PA manifest (valid signature, hashes matching these bytes; the signer may be off a trust
  list) or by its XMP metadata is ``generated``, whatever the pixels say, with the declaration
  as the stated reason (``verdict_reason``; the method's own verdict stays in ``method_verdict``);
* a manifest that no longer matches the file (changed after signing, or copied from another
  file) is reported as such in ``provenance`` and a note, and declares nothing about these pixels;
* declared AI *editing* (``compositeWithTrainedAlgorithmicMedia``) by such a manifest or XMP is
  evidence of an edit: a picture the method judged ``authentic`` becomes ``manipulated``, with
  the declaration as the reason; the mask stays the method's (empty: a declaration says that the
  picture was edited, not where). A method's ``manipulated`` or ``generated`` stands, with the
  declaration in a note;
* image generators merely named in the metadata (EXIF ``Software``, generation parameters:
  unsigned, easily written by anyone) are recorded as evidence and a note; they do not change
  the verdict.

Only a method's own analysis is judged (not an analyst's boxes or another tool's map).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imlforensic.forensics.jpeg import JpegForensics, analyse_jpeg
from imlforensic.forensics.metadata import Metadata, read_metadata
from imlforensic.forensics.provenance import AiDeclaration, Provenance, declared_ai, read_provenance
from imlforensic.io.hashing import sha256_bytes
from imlforensic.io.images import JPEG_FORMATS, LoadedImage

DECLARING_SOURCES = ("c2pa", "xmp")
"""Where a declaration of AI generation or AI editing counts in the verdict (:func:`declared_provenance_verdict`)."""


@dataclass(frozen=True)
class EvidenceOptions:
    """What :func:`read_file_evidence` reads."""

    trust_anchors: str | None = None  # PEM text of the C2PA signers' root certificates to trust
    double_compression: bool = True  # the JPEG double-compression estimate (most of the cost)
    thumbnail: bool = True  # compare the EXIF thumbnail with the picture


@dataclass
class FileEvidence:
    provenance: Provenance | None = None
    metadata: Metadata | None = None
    jpeg: JpegForensics | None = None  # None for other formats
    problem: str = ""  # why nothing was read
    seconds: float = 0.0

    @property
    def declaration(self) -> AiDeclaration | None:
        return declared_ai(self.provenance) if self.provenance is not None else None


def read_file_evidence(
    image: LoadedImage, data: bytes | None = None, options: EvidenceOptions | None = None
) -> FileEvidence:
    """The file evidence of ``image`` (see the module docstring); never raises."""
    options = options or EvidenceOptions()
    started = time.perf_counter()
    if data is None:
        try:
            data = Path(image.path).read_bytes()
        except OSError as exc:
            return FileEvidence(problem=f"The file could not be read again for its metadata ({exc.strerror or exc}).")
    if sha256_bytes(data) != image.sha256:
        return FileEvidence(
            problem="The file changed after it was decoded: its provenance, metadata and JPEG structure were not read."
        )
    try:
        metadata = read_metadata(data, thumbnail=options.thumbnail)
        provenance = read_provenance(data, options.trust_anchors, metadata=metadata)
        jpeg = analyse_jpeg(data, options.double_compression) if image.format in JPEG_FORMATS else None
    except Exception as exc:  # the readers state their problems; this is a last guard for the batch
        return FileEvidence(problem=f"The file's metadata could not be read ({type(exc).__name__}: {exc}).")
    return FileEvidence(provenance, metadata, jpeg, seconds=time.perf_counter() - started)


@dataclass(frozen=True)
class VerdictDecision:
    verdict: str
    reason: str | None = None  # why the verdict is not the method's own; None when it is
    notes: tuple[str, ...] = field(default=())  # evidence stated, not used for the verdict


def declared_provenance_verdict(method_verdict: str, evidence: FileEvidence | None) -> VerdictDecision:
    """The verdict once the file's declared provenance is taken into account (module docstring)."""
    if evidence is None or evidence.provenance is None:
        return VerdictDecision(method_verdict)
    notes: list[str] = []
    c2pa = evidence.provenance.c2pa
    if c2pa.content_matches is False:
        notes.append(
            "The C2PA manifest no longer matches the file (changed after signing, or copied from another file): "
            "it is reported, but not used as evidence about these pixels."
        )
    elif c2pa.status == "invalid":
        notes.append("The C2PA manifest fails validation: it is reported, but not used as evidence.")
    declaration = evidence.declaration
    if declaration is None:
        return VerdictDecision(method_verdict, notes=tuple(notes))
    if declaration.kind == "generated" and declaration.source in DECLARING_SOURCES:
        reason = (
            f"{declaration.reason} The verdict follows that declaration whatever the pixels say "
            f"(the method alone: {method_verdict})."
        )
        return VerdictDecision("generated", reason, tuple(notes))
    if declaration.kind == "generated":
        notes.append(f"{declaration.reason} Recorded as evidence; it does not decide the verdict.")
    elif declaration.source in DECLARING_SOURCES and method_verdict == "authentic":
        reason = (
            f"{declaration.reason} The verdict follows that declaration of an edit (the method alone: authentic; "
            "its map does not show where the edit is)."
        )
        return VerdictDecision("manipulated", reason, tuple(notes))
    else:
        notes.append(f"{declaration.reason} Recorded as evidence; the method's verdict ({method_verdict}) stands.")
    return VerdictDecision(method_verdict, notes=tuple(notes))


def evidence_json(evidence: FileEvidence | None) -> dict[str, Any]:
    """The record's ``provenance``, ``metadata`` and ``jpeg`` fields (None where not read)."""
    if evidence is None:
        return {"provenance": None, "metadata": None, "jpeg": None}
    return {
        "provenance": evidence.provenance.to_json() if evidence.provenance is not None else None,
        "metadata": evidence.metadata.to_json() if evidence.metadata is not None else None,
        "jpeg": evidence.jpeg.to_json() if evidence.jpeg is not None else None,
    }
