import sys

from pyrunc.cli.main import main

sys.exit(main())
