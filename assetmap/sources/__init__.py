"""Source readers, one module per format, and the sniffing that picks one.

Each format is a :class:`~assetmap.sources.registry.Reader` declared at the end of its module
(how it is recognised, read and written); :data:`READERS` lists them in the order they are tried.
``assetmap ingest --help`` lists them with their descriptions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assetmap.sources import (
    asy_d11,
    boundaries,
    census,
    estimates,
    gtfs,
    languages,
    lookup,
    mapped,
    openreferral,
    osm,
    osm_network,
    partner_indices,
    postcodes,
    providers,
    scorecard,
)
from assetmap.sources._io import (
    FileRefused,
    ReadResult,
    csv_header,
    is_binary,
    load_json,
    maybe_gunzip,
)
from assetmap.sources.registry import Reader, Written

#: Every format, in the order a file is tried against them: a column mapping first (the user
#: said what the file is), then the most specific shapes before the most general.
READERS: dict[str, Reader] = {r.kind: r for r in (
    mapped.READER, osm.READER, osm_network.READER, gtfs.READER, lookup.READER, partner_indices.READER, scorecard.READER,
    asy_d11.READER, estimates.READER,
    languages.READER, census.READER, postcodes.READER, providers.READER, boundaries.READER, openreferral.READER,
)}
KINDS = tuple(READERS)
ASSET_KINDS = tuple(k for k, r in READERS.items() if r.holds_assets)
#: The kinds whose files hold assets and nothing else: after them, an incremental recompute of the
#: units their assets reach is enough (a network file's places come with a new network).
ASSETS_ONLY_KINDS = tuple(k for k, r in READERS.items()
                          if r.holds_assets and set(r.tables) <= {"assets", "asset_versions"})
#: The order in which the files of a folder are taken: what later files depend on first.
DEPENDENCY_ORDER = {k: r.rank for k, r in READERS.items()}
#: A refusal quotes at most this many column names, each cut to this many characters.
_NAMES_SHOWN, _NAME_CHARS = 12, 40


def sniff(path: str | Path, data: bytes, options: dict[str, Any] | None = None) -> str:
    """Pick the reader for a file from its content (and name); ``options['kind']`` overrides."""
    options = options or {}
    if options.get("kind"):
        kind = options["kind"]
        if kind not in READERS:
            raise FileRefused("unknown_format", f"--kind {kind!r}: not one of {', '.join(KINDS)}")
        return str(kind)
    path = Path(path)
    for r in READERS.values():
        if r.binary is not None and r.binary(data, path):
            return r.kind
    plain = maybe_gunzip(data, path)
    if is_binary(plain):
        raise FileRefused("binary_file", f"{path}: a binary file that assetmap cannot read")
    if plain.lstrip()[:1] in (b"{", b"["):
        doc = load_json(plain, path)
        for r in READERS.values():
            if r.json is not None and r.json(doc, options):
                return r.kind
        raise FileRefused("unknown_format", f"{path}: JSON that is not boundaries, OSM, or Open Referral "
                                            "UK; for a foreign schema give --map name=<field> ... "
                                            "--category <category>")
    header = csv_header(plain)
    for r in READERS.values():
        if r.csv is not None and r.csv(header, plain, options):
            return r.kind
    raise FileRefused("unknown_format", f"{path}: cannot tell what this file is (columns: "
                                        f"{_shown_columns(header)}); give --kind, or map "
                                        "a foreign schema with --map and --category")


def _shown_columns(header: list[str]) -> str:
    """Return the column names a refusal may quote.

    At most 12, each cut to 40 characters; none for a file whose first line has no delimiter (not a table: that
    line is content, not names).
    """
    if len(header) <= 1:
        return "none: the first line is not a delimited header"
    shown = [h if len(h) <= _NAME_CHARS else h[:_NAME_CHARS - 1] + "…" for h in header[:_NAMES_SHOWN]]
    more = len(header) - _NAMES_SHOWN
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "") or "none"


def read(kind: str, path: str | Path, data: bytes, options: dict[str, Any]) -> ReadResult:
    """Read ``data`` (the bytes of ``path``) with the reader of ``kind``."""
    return READERS[kind].read(Path(path), data, options)


__all__ = ["ASSETS_ONLY_KINDS", "ASSET_KINDS",
           "DEPENDENCY_ORDER", "KINDS", "READERS", "FileRefused", "ReadResult", "Reader", "Written",
           "read", "sniff"]
