"""Uploaded zip archives, read in memory (never extracted to disk) with hard limits.

`iter_zip` yields each picture member's bytes, or an entry explaining why a member was refused:
paths pointing outside the archive, zips inside zips, password protection, and sizes past the limits
(counted on the unpacked stream, since a zip's declared sizes can lie: zip bombs).
"""
import io
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Iterator

# File names that count as pictures, and the decoder each one claims (images.decode_image trusts content).
EXTENSION_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".jpe": "JPEG", ".jfif": "JPEG",
                     ".gif": "GIF", ".bmp": "BMP", ".dib": "BMP", ".webp": "WEBP", ".tif": "TIFF", ".tiff": "TIFF"}


@dataclass
class UploadLimits:
    max_files: int = 200                   # images per upload, zip members included
    max_file_bytes: int = 20_000_000       # per uploaded file and per unpacked zip member
    max_zip_members: int = 500             # files read from one archive
    max_zip_total_bytes: int = 200_000_000  # unpacked bytes read from one archive
    max_pixels: int = 40_000_000           # decompression-bomb guard (width x height)


@dataclass
class ZipEntry:
    name: str               # "archive.zip/dir/x.png"
    data: bytes | None
    error: str | None = None


def size_text(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def is_zip(name: str, data: bytes) -> bool:
    return name.lower().endswith(".zip") or data[:4] in (b"PK\x03\x04", b"PK\x05\x06")


def _read_capped(archive: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int) -> bytes | None:
    """Read a member but stop past `cap` bytes: declared sizes can lie, the stream cannot."""
    chunks, total = [], 0
    with archive.open(info) as stream:
        while chunk := stream.read(1 << 20):
            total += len(chunk)
            if total > cap:
                return None
            chunks.append(chunk)
    return b"".join(chunks)


JUNK = (".DS_Store", "Thumbs.db", "desktop.ini")


def _open(name: str, data: bytes) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except Exception as err:  # noqa: BLE001 - zipfile raises many kinds; each is "not a readable archive"
        raise ZipRefusal(f"{name} is not a readable zip archive ({err}).") from None


class ZipRefusal(ValueError):
    """A zip, or one of its members, that is refused as a whole (the message names it and why)."""


def _is_junk(info: zipfile.ZipInfo, path: PurePosixPath) -> bool:
    return info.is_dir() or "__MACOSX" in path.parts or path.name.startswith("._") or path.name in JUNK


def _refusal(info: zipfile.ZipInfo, label: str, limits: UploadLimits, extensions, kind: str) -> str | None:
    """Why a member is refused before reading it (the rules every zip here follows), or None."""
    member, path = info.filename.replace("\\", "/"), PurePosixPath(info.filename.replace("\\", "/"))
    suffix = path.suffix.lower()
    if member.startswith("/") or ".." in path.parts or (len(member) > 1 and member[1] == ":"):
        return f"{label} refused: its path points outside the archive ('..' or an absolute path)."
    if suffix == ".zip":
        return f"{label} is a zip inside a zip: not opened. Upload it separately."
    if extensions is not None and suffix and suffix not in extensions:
        return f"{label} skipped: not {kind} ({suffix})."
    if info.flag_bits & 0x1:
        return f"{label} is password-protected: not supported."
    if info.file_size > limits.max_file_bytes:
        return (f"{label} would unpack to {size_text(info.file_size)}, over the {size_text(limits.max_file_bytes)} "
                "per-file limit: refused.")
    return None


Members = dict[PurePosixPath, zipfile.ZipInfo]


def members(name: str, data: bytes, limits: UploadLimits) -> tuple[zipfile.ZipFile, Members]:
    """The archive and its files by path, nothing read yet: each checked by the same rules as iter_zip's members
    (no path out of the archive, no zip inside, no password, under the per-file cap), the first refusal raised."""
    archive = _open(name, data)
    found: dict[PurePosixPath, zipfile.ZipInfo] = {}
    for info in archive.infolist():
        path = PurePosixPath(info.filename.replace("\\", "/"))
        if _is_junk(info, path):
            continue
        if len(found) >= limits.max_zip_members:
            raise ZipRefusal(f"{name} holds more than {limits.max_zip_members} files.")
        problem = _refusal(info, f"{name}/{path}", limits, None, "")
        if problem:
            raise ZipRefusal(problem)
        found[path] = info
    return archive, found


def read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, label: str, cap: int) -> bytes:
    """A member's bytes, refused past `cap` or its declared size (a size can lie; the stream cannot)."""
    try:
        content = _read_capped(archive, info, min(cap, info.file_size))
    except Exception as err:  # noqa: BLE001 - bad CRC (a lying size), unsupported compression, damaged data
        raise ZipRefusal(f"{label} could not be unpacked ({err}).") from None
    if content is None:
        raise ZipRefusal(f"{label} unpacks to more than its declared {size_text(info.file_size)} or past the size "
                         "limit: refused (a zip bomb?).")
    return content


def iter_zip(name: str, data: bytes, limits: UploadLimits = UploadLimits(),
             extensions=EXTENSION_FORMATS, kind: str = "an image file") -> Iterator[ZipEntry]:
    """Yield each member of an in-memory zip (never extracted to disk) whose suffix is in `extensions` (pictures by
    default), or an error entry explaining a refusal."""
    try:
        archive = _open(name, data)
        listed = archive.infolist()
    except ZipRefusal as err:
        yield ZipEntry(name, None, str(err))
        return
    budget, count = limits.max_zip_total_bytes, 0
    for info in listed:
        member = info.filename.replace("\\", "/")
        label, path = f"{name}/{member}", PurePosixPath(member)
        if _is_junk(info, path):
            continue  # folders and OS junk are not pictures anyone uploaded
        if count >= limits.max_zip_members:
            yield ZipEntry(name, None, f"{name} holds more than {limits.max_zip_members} files: only the first "
                                       f"{limits.max_zip_members} were read. Split it into smaller archives.")
            return
        count += 1
        error = _refusal(info, label, limits, extensions, kind)
        if error is None and info.file_size > budget:
            error = (f"{label} skipped: {name} unpacks to more than {size_text(limits.max_zip_total_bytes)} in all. "
                     "Split it into smaller archives.")
        if error is not None:
            yield ZipEntry(label, None, error)
            continue
        try:
            content = read_member(archive, info, label, min(limits.max_file_bytes, budget))
        except ZipRefusal as err:
            yield ZipEntry(label, None, str(err))
            continue
        budget -= len(content)
        if content[:4] == b"PK\x03\x04":
            yield ZipEntry(label, None, f"{label} is a zip inside a zip: not opened. Upload it separately.")
        else:
            yield ZipEntry(label, content)
