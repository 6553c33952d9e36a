"""Size limits on what producers send besides the audio (docs/api.md), and how a size is written in a message.

Side files are read whole, so their size is checked before they are read."""

from __future__ import annotations

KIB = 1024
MIB = 1024 * KIB

# Side files of an episode, and a show's cover: refused (422) past these sizes, before they are read whole.
SIDE_FILE_LIMITS = {"image": 20 * MIB, "chapters": 5 * MIB, "transcript": 5 * MIB}


def format_size(limit: int) -> str:
    """A size limit as refusals write it: whole MB from 1 MiB up, else whole KB."""
    return f"{limit // MIB} MB" if limit >= MIB else f"{limit // KIB} KB"
