"""`python -m packager` is the `litebox` command."""
import sys

from packager.cli import main

sys.exit(main())
