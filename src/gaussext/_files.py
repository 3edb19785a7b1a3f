"""Output files that never destroy data: written atomically, never over an input.

An output is written to a temporary file in the same folder and moved over
its destination with :func:`os.replace` (one rename, atomic on POSIX and
Windows) only once it is complete, so a failure half-way leaves the
destination as it was and no partial file behind.  The same folder, because a
rename across file systems is a copy.
"""

import contextlib
import os
import tempfile

__all__ = ["atomic_output", "atomic_path", "refuse_overwriting_inputs"]


def _default_file_mode():
    """The permissions open() would give a new file under the process's umask
    (mkstemp's 0600 would hide outputs from the user's group)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


# Read once, at import: os.umask can only be read by setting it, which must
# not race with another thread creating files.
_NEW_FILE_MODE = _default_file_mode()


def _same_file(first, second):
    """True when both paths name one existing file (links followed: compared
    by device and inode, as os.path.samefile does)."""
    try:
        return os.path.samefile(first, second)
    except (OSError, ValueError):  # either does not exist, or is not a path
        return False


def refuse_overwriting_inputs(output, inputs, *, what="output"):
    """Raise ValueError when `output` is the same file as one of `inputs`.

    Parameters
    ----------
    output : str or path-like
        The file about to be written.
    inputs : iterable of str or path-like or None
        The files read by the same command (None entries are skipped).
    what : str
        What would be written there, for the message.
    """
    for source in inputs:
        if source is not None and _same_file(output, source):
            same = "" if os.fspath(output) == os.fspath(source) else f" (as {source})"
            raise ValueError(
                f"refusing to write the {what} to {os.fspath(output)}: it is the same file as "
                f"the input{same}, which would be destroyed; choose another output path"
            )


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; on success it replaces `path`.

    The caller writes the temporary file completely.  When the ``with`` block
    ends normally the file is flushed to disk and renamed over `path` (through
    a symbolic link, its target is replaced, so the link stays); when it raises,
    the temporary file is removed and `path` is left untouched.
    """
    destination = os.path.realpath(os.fspath(path))
    folder, name = os.path.split(destination)
    try:
        # the extension kept last: writers that choose a format by it still can
        descriptor, temporary = tempfile.mkstemp(
            prefix=f".{name}.", suffix=".part" + os.path.splitext(name)[1], dir=folder)
    except OSError as exc:  # named by the path asked for, not the temporary one
        raise type(exc)(exc.errno, exc.strerror, os.fspath(path)) from None
    os.close(descriptor)
    try:
        yield temporary
        with open(temporary, "rb+") as written:
            os.fsync(written.fileno())
        mode = (os.stat(destination).st_mode & 0o7777 if os.path.exists(destination)
                else _NEW_FILE_MODE)
        os.chmod(temporary, mode)
        try:
            os.replace(temporary, destination)
        except OSError as exc:  # e.g. the destination is a directory
            raise type(exc)(exc.errno, exc.strerror, os.fspath(path)) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


@contextlib.contextmanager
def atomic_output(path, mode="wb", **open_options):
    """Yield a file object opened on a temporary file beside `path` (see
    :func:`atomic_path`); `path` is replaced only when the block succeeds."""
    with atomic_path(path) as temporary, open(temporary, mode, **open_options) as handle:
        yield handle
