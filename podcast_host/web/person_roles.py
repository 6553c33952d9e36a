"""The Podcast Taxonomy's roles as listeners' pages name them: in English as the taxonomy writes them, each
marked for the catalogs with the context "podcast role" (so that "Author" the role and "Author" the show's
field are translated apart), and translated for the page's language (docs/languages.md)."""

from __future__ import annotations

from flask_babel import pgettext


def role_name(role: str) -> str:
    """A stored role (lower-cased, as namespace_fields keeps it) in the interface's language; a role the list
    does not know is shown as it was stored."""
    return _names().get(role.strip().lower(), role)


def known_roles() -> frozenset[str]:
    """The roles that have a name here (every role of the vendored taxonomy, tests/test_namespace_page.py)."""
    return frozenset(_names())


def _names() -> dict[str, str]:
    # Built on each call: pgettext answers in the language of the request that asks.
    return {
        "director": pgettext("podcast role", "Director"),
        "assistant director": pgettext("podcast role", "Assistant Director"),
        "executive producer": pgettext("podcast role", "Executive Producer"),
        "senior producer": pgettext("podcast role", "Senior Producer"),
        "producer": pgettext("podcast role", "Producer"),
        "associate producer": pgettext("podcast role", "Associate Producer"),
        "development producer": pgettext("podcast role", "Development Producer"),
        "creative director": pgettext("podcast role", "Creative Director"),
        "host": pgettext("podcast role", "Host"),
        "co-host": pgettext("podcast role", "Co-Host"),
        "guest host": pgettext("podcast role", "Guest Host"),
        "guest": pgettext("podcast role", "Guest"),
        "voice actor": pgettext("podcast role", "Voice Actor"),
        "narrator": pgettext("podcast role", "Narrator"),
        "announcer": pgettext("podcast role", "Announcer"),
        "reporter": pgettext("podcast role", "Reporter"),
        "author": pgettext("podcast role", "Author"),
        "editorial director": pgettext("podcast role", "Editorial Director"),
        "co-writer": pgettext("podcast role", "Co-Writer"),
        "writer": pgettext("podcast role", "Writer"),
        "songwriter": pgettext("podcast role", "Songwriter"),
        "guest writer": pgettext("podcast role", "Guest Writer"),
        "story editor": pgettext("podcast role", "Story Editor"),
        "managing editor": pgettext("podcast role", "Managing Editor"),
        "script editor": pgettext("podcast role", "Script Editor"),
        "script coordinator": pgettext("podcast role", "Script Coordinator"),
        "researcher": pgettext("podcast role", "Researcher"),
        "editor": pgettext("podcast role", "Editor"),
        "fact checker": pgettext("podcast role", "Fact Checker"),
        "translator": pgettext("podcast role", "Translator"),
        "transcriber": pgettext("podcast role", "Transcriber"),
        "logger": pgettext("podcast role", "Logger"),
        "studio coordinator": pgettext("podcast role", "Studio Coordinator"),
        "technical director": pgettext("podcast role", "Technical Director"),
        "technical manager": pgettext("podcast role", "Technical Manager"),
        "audio engineer": pgettext("podcast role", "Audio Engineer"),
        "remote recording engineer": pgettext("podcast role", "Remote Recording Engineer"),
        "post production engineer": pgettext("podcast role", "Post Production Engineer"),
        "audio editor": pgettext("podcast role", "Audio Editor"),
        "sound designer": pgettext("podcast role", "Sound Designer"),
        "foley artist": pgettext("podcast role", "Foley Artist"),
        "composer": pgettext("podcast role", "Composer"),
        "theme music": pgettext("podcast role", "Theme Music"),
        "music production": pgettext("podcast role", "Music Production"),
        "music contributor": pgettext("podcast role", "Music Contributor"),
        "production coordinator": pgettext("podcast role", "Production Coordinator"),
        "booking coordinator": pgettext("podcast role", "Booking Coordinator"),
        "production assistant": pgettext("podcast role", "Production Assistant"),
        "content manager": pgettext("podcast role", "Content Manager"),
        "marketing manager": pgettext("podcast role", "Marketing Manager"),
        "sales representative": pgettext("podcast role", "Sales Representative"),
        "sales manager": pgettext("podcast role", "Sales Manager"),
        "graphic designer": pgettext("podcast role", "Graphic Designer"),
        "cover art designer": pgettext("podcast role", "Cover Art Designer"),
        "social media manager": pgettext("podcast role", "Social Media Manager"),
        "consultant": pgettext("podcast role", "Consultant"),
        "intern": pgettext("podcast role", "Intern"),
        "camera operator": pgettext("podcast role", "Camera Operator"),
        "lighting designer": pgettext("podcast role", "Lighting Designer"),
        "camera grip": pgettext("podcast role", "Camera Grip"),
        "assistant camera": pgettext("podcast role", "Assistant Camera"),
        "assistant editor": pgettext("podcast role", "Assistant Editor"),
    }
