import sys

from in5550.cli import main

sys.exit(main())
