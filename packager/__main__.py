"""`python -m packager` is the `litebox` command."""
import sys

from packager.commands.cli import main

sys.exit(main())
