import sys

from usage.cli import main

sys.exit(main())
