"""File-level forensic evidence beside the map: provenance (C2PA, XMP), metadata, JPEG structure,
and the flagged regions of a mask.

Each module reads one kind of evidence into typed dataclasses with ``to_json()`` and never raises
on a bad file (problems are stated in the result). None of them decodes more than it needs, and
none imports the model stack or the PDF report, so ``detect`` can call them cheaply.

    provenance  C2PA manifest store (c2pa-python), XMP/IPTC DigitalSourceType, declared AI use
    metadata    selected EXIF fields, editing / generator software, EXIF thumbnail vs picture
    jpeg        quantisation tables, estimated quality, table family, double compression
    regions     connected regions of a mask with their box, area and probabilities
"""
