"""The inputs of a screen: video files, folders (searched recursively for `core.media.evidence.VIDEO_EXTENSIONS`) and
text files listing paths, one a line.

A list file is named `@FILE` or ends in one of `LIST_SUFFIXES` (no video has those extensions); its blank lines and
lines starting with `#` are skipped, and a relative path in it is relative to the list file's folder. A listed
folder is searched like a folder given on the command line.
"""
from __future__ import annotations

import os
from pathlib import Path

from core.media.evidence import collect_videos

#: File name suffixes that mark a list of paths rather than a video.
LIST_SUFFIXES = frozenset({".txt", ".lst"})


def is_path_list(item: str) -> bool:
    """True for `@FILE` and for a name ending in `LIST_SUFFIXES` (any case)."""
    return item.startswith("@") or Path(item).suffix.lower() in LIST_SUFFIXES


def read_path_list(path: str | os.PathLike) -> list[str]:
    """The paths listed in the text file `path`, relative ones resolved against its folder; OSError when unreadable."""
    path = Path(path)
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            entries.append(str(path.parent / line) if not os.path.isabs(line) else line)
    return entries


def expand_inputs(items: list[str]) -> tuple[list[Path], list[str]]:
    """Command-line inputs -> (the files to screen, absolute, each once, in the order given; problems: one line each
    naming a list file that cannot be read or a folder without videos). Missing files are kept: each gets an error
    row."""
    files: list[Path] = []
    problems: list[str] = []
    for item in items:
        if is_path_list(item):
            name = item[1:] if item.startswith("@") else item
            try:
                listed = read_path_list(name)
            except (OSError, UnicodeDecodeError) as e:
                problems.append(f"{name}: cannot read the list of paths ({getattr(e, 'strerror', None) or e})")
                continue
            found, bad = collect_videos(listed)
        else:
            found, bad = collect_videos([item])
        files += found
        problems += bad
    seen: set[Path] = set()
    unique = []
    for f in files:
        a = Path(os.path.abspath(f))
        if a not in seen:
            seen.add(a)
            unique.append(a)
    return unique, problems
