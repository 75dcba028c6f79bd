"""`python -m bench`: run the benchmarks and print one table (see `bench.runner`).

This module only dispatches to the runner; it holds no logic of its own.
"""

from __future__ import annotations

import sys

from bench.runner import main

if __name__ == "__main__":
    sys.exit(main())
