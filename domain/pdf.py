"""A minimal valid PDF (1.4) of plain text pages: Helvetica, WinAnsi (French accents), A4, wrapped lines.

Letters are short text documents: a writer of ~80 lines is smaller than any dependency and needs no
network or fonts. Only what a PDF reader requires: catalog, pages, one font, one content stream per
page, a cross-reference table with exact byte offsets and a trailer.
"""

from __future__ import annotations

import textwrap

_WIDTH, _HEIGHT, _MARGIN, _SIZE, _LEADING = 595, 842, 56, 10, 14
_COLUMNS = 95
_LINES_PER_PAGE = (_HEIGHT - 2 * _MARGIN) // _LEADING


def _escape(line: str) -> bytes:
    data = line.encode("cp1252", errors="replace")
    return data.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def _wrap(lines: list[str]) -> list[str]:
    wrapped: list[str] = []
    for line in lines:
        wrapped.extend(textwrap.wrap(line, _COLUMNS, break_long_words=True) or [""])
    return wrapped


def _page_stream(lines: list[str]) -> bytes:
    parts = [b"BT", f"/F1 {_SIZE} Tf {_LEADING} TL {_MARGIN} {_HEIGHT - _MARGIN} Td".encode()]
    for line in lines:
        parts.append(b"(" + _escape(line) + b") Tj T*")
    parts.append(b"ET")
    return b"\n".join(parts)


def text_pdf(lines: list[str], title: str = "") -> bytes:
    """The PDF bytes of ``lines`` (wrapped at ~95 characters, paginated)."""
    body = _wrap(lines)
    pages = [body[i:i + _LINES_PER_PAGE] for i in range(0, len(body), _LINES_PER_PAGE)] or [[]]
    first_page = 4
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + b" ".join(f"{first_page + 2 * i} 0 R".encode() for i in range(len(pages)))
        + f"] /Count {len(pages)} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    for i, page in enumerate(pages):
        content = first_page + 2 * i + 1
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {_WIDTH} {_HEIGHT}] "
                       f"/Resources << /Font << /F1 3 0 R >> >> /Contents {content} 0 R >>".encode())
        stream = _page_stream(page)
        objects.append(f"<< /Length {len(stream)} >>\nstream\n".encode() + stream + b"\nendstream")
    info = len(objects) + 1
    objects.append(b"<< /Title (" + _escape(title) + b") /Producer (parcours-rsa) >>")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, obj in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + obj + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info {info} 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)
