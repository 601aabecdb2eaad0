"""The command lines: `caddm-analyze` (`analyze`) and `caddm-train` (`train`). They parse arguments and print;
the work lives in the rest of `core`."""
