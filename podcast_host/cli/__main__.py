"""`python -m podcast_host.cli`, the same as the `podcast-host` command."""

from __future__ import annotations

from podcast_host.cli import main

if __name__ == "__main__":
    main()
