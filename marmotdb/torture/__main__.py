import sys

from marmotdb.torture.command import entry

sys.exit(entry())
