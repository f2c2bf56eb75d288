"""``python -m distill.data.sources.chatterbot``: print the per-language alignment table."""

import sys

from distill.data.sources.chatterbot.cli import main

sys.exit(main())
