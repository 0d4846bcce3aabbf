"""``python -m twin`` is the ``twin`` command."""

import sys

from twin.apps.cli import main

sys.exit(main())
