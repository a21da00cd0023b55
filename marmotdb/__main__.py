import sys

from marmotdb.runtime.cli import main

sys.exit(main())
