"""`python -m policies.review`: run the offline review (policies/review/cli.py) and exit with its code."""

import sys

from policies.review.cli import main

sys.exit(main())
