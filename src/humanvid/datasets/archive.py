"""Safe extraction of zip and tar archives: no absolute paths, no `..`, no links or devices, disk checked."""

from __future__ import annotations

import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from humanvid.disk import require_free


class UnsafeArchiveError(ValueError):
    """An archive member that would escape the destination or is not a plain file or folder."""


def _check_name(archive: Path, name: str) -> PurePosixPath:
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchiveError(f"{archive}: member {name!r} has an absolute path")
    if ".." in p.parts:
        raise UnsafeArchiveError(f"{archive}: member {name!r} climbs out with '..'")
    return p


def safe_extract(archive: Path, dest: Path) -> list[Path]:
    """Extract every member of a .zip/.tar(.gz/.bz2/.xz) into `dest`, after checking all of them first.

    Rejected (UnsafeArchiveError, nothing extracted): absolute paths, `..`, symbolic or hard links,
    devices and FIFOs. The uncompressed size must fit on the disk. Returns the extracted files.
    """
    archive, dest = Path(archive), Path(dest)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            for info in infos:
                _check_name(archive, info.filename)
                mode = info.external_attr >> 16
                if stat.S_ISLNK(mode):
                    raise UnsafeArchiveError(f"{archive}: member {info.filename!r} is a symbolic link")
            require_free(dest, sum(i.file_size for i in infos), f"{dest} (extracting {archive.name})")
            out = []
            for info in infos:
                zf.extract(info, dest)
                if not info.is_dir():
                    out.append(dest / _check_name(archive, info.filename))
            return out
    if tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tf:
            members = tf.getmembers()
            for m in members:
                _check_name(archive, m.name)
                if m.issym() or m.islnk():
                    raise UnsafeArchiveError(f"{archive}: member {m.name!r} is a link")
                if not (m.isfile() or m.isdir()):
                    raise UnsafeArchiveError(f"{archive}: member {m.name!r} is not a plain file or folder")
            require_free(dest, sum(m.size for m in members), f"{dest} (extracting {archive.name})")
            tf.extractall(dest, members=members, filter="data")  # the stdlib's own guard as a second line
            return [dest / _check_name(archive, m.name) for m in members if m.isfile()]
    raise ValueError(f"{archive}: not a zip or tar archive")


def extract_once(archive: Path, dest: Path, progress=print) -> Path:
    """Extract `archive` into `dest` (a cache folder) unless a previous run already did; atomic, so an
    interrupted extraction is redone rather than half-used."""
    from humanvid.atomic import atomic_dir

    dest = Path(dest)
    if not dest.is_dir():
        progress(f"extracting {Path(archive).name}")
        with atomic_dir(dest) as tmp:
            safe_extract(Path(archive), tmp)
    return dest
