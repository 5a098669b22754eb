"""Turn uploaded bytes into text: .txt/.md verbatim, .html via BeautifulSoup, .pdf via pypdf."""

from __future__ import annotations

import io
import re
from pathlib import PurePath

from bs4 import BeautifulSoup
from pypdf import PdfReader
from pypdf.errors import PdfReadError

from service.domain.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType

SUPPORTED = (".txt", ".md", ".html", ".htm", ".pdf")


def decode_text(data: bytes, what: str) -> str:
    """Strict UTF-8 (BOM allowed); binary content is refused by name."""
    if b"\x00" in data:
        raise UnsupportedMediaType(f"{what} looks binary (contains NUL bytes); send UTF-8 text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnsupportedMediaType(
            f"{what} is not valid UTF-8 (byte {exc.start}: {data[exc.start : exc.start + 1]!r})"
        ) from exc
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\n\r\t\f")
    if controls > max(8, len(text) // 100):
        raise UnsupportedMediaType(f"{what} looks binary ({controls} control characters)")
    return text


def _html_text(html: str) -> str:
    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    text = soup.get_text("\n")
    lines = [re.sub(r"[ \t\xa0]+", " ", ln).strip() for ln in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _pdf_text(data: bytes, what: str) -> str:
    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, ValueError, KeyError) as exc:
        raise UnsupportedMediaType(f"{what} is not a readable PDF: {exc}") from exc
    return "\n\n".join(p.strip() for p in pages if p.strip())


def load_bytes(filename: str, data: bytes, max_bytes: int) -> str:
    """Text of a file by its extension; raises a 4xx-mapped error naming the problem."""
    suffix = PurePath(filename).suffix.lower()
    if suffix not in SUPPORTED:
        raise UnsupportedMediaType(
            f"unsupported file type {suffix or '(none)'!r} for {filename!r}; supported: {', '.join(SUPPORTED)}"
        )
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"{filename!r} is {len(data)} bytes; the limit is {max_bytes}")
    if not data:
        raise InvalidInput(f"{filename!r} is empty")
    if suffix == ".pdf":
        if not data.startswith(b"%PDF"):
            raise UnsupportedMediaType(f"{filename!r} has a .pdf name but is not a PDF")
        return _pdf_text(data, repr(filename))
    text = decode_text(data, repr(filename))
    return _html_text(text) if suffix in (".html", ".htm") else text
