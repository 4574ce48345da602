import sys

from bulk_delete.cli import main

sys.exit(main())
