"""Moving a show in from another host (docs/migrate.md).

- reader.py: another host's RSS feed read into plain values (defusedxml: no entity expansion).
- run.py: an import run: the show, then each item's episode, recorded item by item; safe to run again.
"""
