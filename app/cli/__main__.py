"""`python -m app.cli`: the same program as the `llma` console script."""

import sys

from app.cli import main

sys.exit(main())
