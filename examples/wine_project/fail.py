"""An entry point that fails: the run must end FAILED."""

from __future__ import annotations

import argparse
import sys

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--code", type=int, required=True)
    print("failing on purpose", file=sys.stderr)
    sys.exit(parser.parse_args().code)
