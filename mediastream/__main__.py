"""``python -m mediastream``: the same as the ``mediastream`` command."""

import sys

from mediastream.cli import main

sys.exit(main())
