"""Helpers every layer uses: user-facing errors (`errors`), atomic file output (`atomic`), file hashing (`hashing`),
how values read (`formatting`), where bundled files and caches live (`resources`, `cache_dir`), thread set-up
(`threads`).

May import: the standard library and numpy only. Nothing here imports another part of `core`, torch or OpenCV."""
