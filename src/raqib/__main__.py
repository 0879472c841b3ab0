from __future__ import annotations

import sys

from raqib.cli import main

sys.exit(main())
