"""``python -m demo`` runs the whole demo (see :mod:`demo.run`)."""

import sys

from demo.run import main

sys.exit(main())
