"""``python -m selfcheck A4.ipynb``: the students' self-check (see ``selfcheck.cli``)."""
import sys

from selfcheck.cli import main

sys.exit(main())
