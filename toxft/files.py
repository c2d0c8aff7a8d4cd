"""Writing the user's files the way an editor does, and refusing bad output paths before any work.

* :func:`write_atomically` replaces a file only once the new text is complete, keeps the
  old file's mode and owner, follows a symbolic link to update the file it points to, and
  refuses a read-only file. A new file gets the mode the umask allows (0644 usually).
* :func:`check_output` is called while parsing arguments, so that ``--json out/x.json``
  into a missing folder or ``--plot x.bmp`` fails before minutes of computing.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from toxft.errors import ToxftError

# What matplotlib's Agg backend writes; a figure path must end in one of these.
FIGURE_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg", ".eps", ".ps", ".tif", ".tiff", ".webp")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _target(path: Path) -> Path:
    """The file a write to ``path`` should change: a symlink's target, else the path itself."""
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def check_writable(path: str | Path, what: str = "") -> Path:
    """Fail with one line unless ``path`` can be written: its folder exists, it is not read-only."""
    path = Path(path)
    target = _target(path)
    label = f"{what} {path}".strip()
    if target.is_dir():
        raise ToxftError(f"toxft: {label} is a folder, not a file")
    folder = target.parent
    if not folder.is_dir():
        raise ToxftError(f"toxft: cannot write {label}: the folder {folder} does not exist")
    # The owner's write bit too: root may write anything, but a file made read-only is a request to leave it.
    if target.exists() and (not os.access(target, os.W_OK) or not target.stat().st_mode & stat.S_IWUSR):
        raise ToxftError(f"toxft: {label} is read-only; not changed")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ToxftError(f"toxft: cannot write {label}: the folder {folder} is not writable")
    return path


def check_output(path: str | Path, what: str, suffixes: tuple[str, ...] | None = None) -> Path:
    """:func:`check_writable` plus, where given, a known file extension."""
    path = Path(path)
    if suffixes and path.suffix.lower() not in suffixes:
        raise ToxftError(f"toxft: {what} {path}: unknown file type {path.suffix or '(none)'!r} "
                         f"(use {', '.join(suffixes)})")
    return check_writable(path, what)


def write_atomically(path: str | Path, text: str | bytes) -> None:
    """Replace ``path`` only once the new content is fully written: a failure leaves the old file.

    Mode and owner of an existing file are kept, a symlink's target is updated (the link
    stays a link), and a read-only file is refused.
    """
    path = Path(path)
    check_writable(path)
    target = _target(path)
    try:
        old = os.stat(target)
    except FileNotFoundError:
        old = None
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(text.encode("utf-8") if isinstance(text, str) else text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, (old.st_mode & 0o7777) if old else (0o666 & ~_umask()))
        if old and (old.st_uid, old.st_gid) != (os.getuid(), os.getgid()):
            try:
                os.chown(temporary, old.st_uid, old.st_gid)
            except PermissionError:  # only root may give a file away; the mode is still kept
                pass
        os.replace(temporary, target)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def save_figure(figure, path: str | Path) -> Path:
    """Lay out, save through :func:`write_atomically` (same rules as every other output) and close a figure."""
    import io

    import matplotlib.pyplot as plt

    try:
        path = check_output(path, "figure", FIGURE_SUFFIXES)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, dpi=150, format=path.suffix.lstrip(".").lower())
        write_atomically(path, buffer.getvalue())
        return path
    finally:
        plt.close(figure)
