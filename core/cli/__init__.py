"""The command lines: `caddm-analyze` (`analyze`), `caddm-case` (`case`), `caddm-screen` (`screen`) and
`caddm-train` (`train`). They parse arguments, print and choose exit codes; the work lives in the rest of `core`.

May import: everything in `core`; only the app imports them (never the reverse)."""
