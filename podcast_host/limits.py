"""Size limits on what producers send besides the audio (docs/api.md).

Side files are read whole, so their size is checked before they are read."""

from __future__ import annotations

# Side files of an episode, and a show's cover: refused (422) past these sizes, before they are read whole.
SIDE_FILE_LIMITS = {"image": 20 * 1024 * 1024, "chapters": 5 * 1024 * 1024, "transcript": 5 * 1024 * 1024}
