"""`caddm-train` as a script (`python train_cli.py ...`, `torchrun ... train_cli.py fit ...`): the command line
lives in `core.cli.train`."""
import sys

from core.cli.train import main

if __name__ == "__main__":
    sys.exit(main())
