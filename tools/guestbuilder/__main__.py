"""Command line of the guest builder: ``python -m tools.guestbuilder build --variant reference``."""

from tools.guestbuilder.build import main

raise SystemExit(main())
