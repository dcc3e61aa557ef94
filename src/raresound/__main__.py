import sys

from raresound.cli import main

sys.exit(main())
