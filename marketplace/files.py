"""Uploaded files kept in the database (core): the type told by the content, not only the
name, a size limit, a safe name, and the download response.

Evidence files of outcome contracts and attachments of support tickets are stored this way:
the bytes in a deferred ``LargeBinary`` column beside their name and content type, served
only through a view that checks who may open them (anyone else gets 404).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote

from flask import Response
from flask_babel import lazy_gettext as _l

from marketplace.errors import DomainError


@dataclass(frozen=True)
class Upload:
    """A file as it came in: the name the browser sent and its bytes."""

    name: str
    data: bytes


@dataclass(frozen=True)
class FileType:
    content_type: str
    magic: bytes | None = None  # the file's first bytes
    text: bool = False  # plain text: no NUL byte, and it decodes (UTF-8 or GB18030)


TYPES = {  # extension: what its content must be
    "pdf": FileType("application/pdf", b"%PDF"),
    "png": FileType("image/png", b"\x89PNG\r\n\x1a\n"),
    "jpg": FileType("image/jpeg", b"\xff\xd8\xff"),
    "jpeg": FileType("image/jpeg", b"\xff\xd8\xff"),
    "xlsx": FileType(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", b"PK\x03\x04"
    ),
    "csv": FileType("text/csv", text=True),
    "txt": FileType("text/plain", text=True),
}
NAME_LENGTH = 120  # the columns keeping a file's name


def _is_text(data: bytes) -> bool:
    if b"\x00" in data:
        return False
    for encoding in ("utf-8-sig", "gb18030"):  # spreadsheets exported in China are often GBK
        try:
            data.decode(encoding)
        except UnicodeDecodeError:
            continue
        return True
    return False


def checked(
    upload: Upload,
    allowed: Iterable[str],
    max_bytes: int,
    *,
    field: str,
    kinds: object,
) -> tuple[str, str]:
    """A safe name and the content type of an upload, or a clear refusal (``kinds`` says which
    types the caller takes, e.g. ``_l("Attach a PDF or an image.")``)."""
    name = "".join(c for c in upload.name.replace("\\", "/").rsplit("/", 1)[-1] if c.isprintable())
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if extension not in set(allowed) or extension not in TYPES:
        raise DomainError(kinds, field=field)
    if len(upload.data) > max_bytes:
        raise DomainError(
            _l("The file is larger than %(mb)s MB.", mb=f"{max_bytes / (1024 * 1024):.3g}"),
            field=field,
        )
    if not upload.data:
        raise DomainError(_l("The file is empty."), field=field)
    kind = TYPES[extension]
    if (kind.magic is not None and not upload.data.startswith(kind.magic)) or (
        kind.text and not _is_text(upload.data)
    ):
        raise DomainError(_l("The file is not what its name says."), field=field)
    return name[-NAME_LENGTH:], kind.content_type


def download(name: str, content_type: str, data: bytes) -> Response:
    """The file as an attachment (never shown inline), kept out of shared caches."""
    response = Response(data, mimetype=content_type)
    response.headers["Content-Disposition"] = "attachment; filename*=UTF-8''" + quote(name)
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
