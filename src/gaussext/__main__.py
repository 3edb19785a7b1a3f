import sys

from gaussext._cli import main

sys.exit(main())
