import sys

from mftl.cli import main

sys.exit(main())
