"""Screening an archive on Ray (`caddm-screen`, docs/SCREENING.md): many evidence files analysed by a fixed set of
Ray actors, each loading the model once, every finished video committed at once, a rerun resuming where a killed
one stopped.

What it owns: expanding the inputs (`inputs`), the per-video commit records and the output folder's layout
(`journal`), the table rows and their files `results.parquet` / `summary.csv` (`rows`), the actor that analyses
(`worker`) and the driver loop over the actors (`driver`).

What it may import: `core.analysis` (engine, runner, results, cache key), `core.media`, `core.faces`,
`core.common`; Ray and pyarrow lazily, inside functions (they are the optional `screen` extra). Nothing imports
it except `core/cli/screen.py`: no other command pays for Ray at start-up.
"""
