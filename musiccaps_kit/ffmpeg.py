"""Find an ffmpeg binary for yt-dlp: the system's, or the one the imageio-ffmpeg wheel ships."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def ffmpeg_dir() -> str:
    """A folder holding an executable named ``ffmpeg``, prepended to ``PATH`` if needed.

    yt-dlp looks ffmpeg up by name (its downloader checks ``PATH`` even when
    ``ffmpeg_location`` is set), so the wheel's binary is linked under that name.
    """
    found = shutil.which("ffmpeg")
    if found:
        return str(Path(found).parent)
    import imageio_ffmpeg

    exe = imageio_ffmpeg.get_ffmpeg_exe()
    folder = Path(tempfile.gettempdir()) / f"musiccaps-kit-ffmpeg-{os.getuid()}"
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / "ffmpeg"
    if not link.exists():
        tmp = folder / f".ffmpeg-{os.getpid()}"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(exe)
        os.replace(tmp, link)
    os.environ["PATH"] = f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"
    return str(folder)
