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


def iter_zip(name: str, data: bytes, limits: UploadLimits = UploadLimits(),
             extensions=EXTENSION_FORMATS, kind: str = "an image file") -> Iterator[ZipEntry]:
    """Yield each member of an in-memory zip (never extracted to disk) whose suffix is in `extensions` (pictures by
    default; an ONNX model folder passes its own), or an error entry explaining a refusal."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except Exception as err:  # noqa: BLE001 - zipfile raises many kinds; each is "not a readable archive"
        yield ZipEntry(name, None, f"{name} is not a readable zip archive ({err}).")
        return
    budget, count = limits.max_zip_total_bytes, 0
    for info in members:
        member = info.filename.replace("\\", "/")
        label, path = f"{name}/{member}", PurePosixPath(member)
        if info.is_dir() or "__MACOSX" in path.parts or path.name.startswith("._") or path.name in (
                ".DS_Store", "Thumbs.db", "desktop.ini"):
            continue  # folders and OS junk are not pictures anyone uploaded
        if count >= limits.max_zip_members:
            yield ZipEntry(name, None, f"{name} holds more than {limits.max_zip_members} files: only the first "
                                       f"{limits.max_zip_members} were read. Split it into smaller archives.")
            return
        count += 1
        suffix = path.suffix.lower()
        if member.startswith("/") or ".." in path.parts or (len(member) > 1 and member[1] == ":"):
            error = f"{label} refused: its path points outside the archive ('..' or an absolute path)."
        elif suffix == ".zip":
            error = f"{label} is a zip inside a zip: not opened. Upload it separately."
        elif suffix and suffix not in extensions:
            error = f"{label} skipped: not {kind} ({suffix})."
        elif info.flag_bits & 0x1:
            error = f"{label} is password-protected: not supported."
        elif info.file_size > limits.max_file_bytes:
            error = (f"{label} would unpack to {size_text(info.file_size)}, over the "
                     f"{size_text(limits.max_file_bytes)} per-file limit: refused.")
        elif info.file_size > budget:
            error = (f"{label} skipped: {name} unpacks to more than {size_text(limits.max_zip_total_bytes)} in all. "
                     "Split it into smaller archives.")
        else:
            try:
                content = _read_capped(archive, info, min(limits.max_file_bytes, budget))
            except Exception as err:  # noqa: BLE001 - bad CRC (a lying size), unsupported compression, damaged data
                yield ZipEntry(label, None, f"{label} could not be unpacked ({err}).")
                continue
            if content is None:
                yield ZipEntry(label, None, f"{label} unpacks to more than its declared {size_text(info.file_size)} "
                                            "or past the size limit: refused (a zip bomb?).")
                continue
            budget -= len(content)
            if content[:4] == b"PK\x03\x04":
                yield ZipEntry(label, None, f"{label} is a zip inside a zip: not opened. Upload it separately.")
            else:
                yield ZipEntry(label, content)
            continue
        yield ZipEntry(label, None, error)
