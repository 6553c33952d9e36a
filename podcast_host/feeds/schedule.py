"""The release schedule a feed states in podcast:updateFrequency when the producer set none: derived from the
days the latest full episodes come out on, in the show's time zone (docs/feeds.md, "Podcasting 2.0 tags").

Only a regular pattern is stated: every day, every weekday, the same days each week, one day every week or
every other week, the same day each month. Anything else, or too few episodes to tell, states nothing. Pure:
the dates alone decide, never the clock, so the feed's bytes change only when its episodes do."""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from itertools import pairwise

# How many of the latest episodes are looked at, and how few are enough to call a pattern regular.
WINDOW = 10
MIN_EPISODES = 4
# iCalendar's weekday names (RFC 5545, 3.3.10), Monday first like date.weekday().
RRULE_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
WEEKDAYS = (0, 1, 2, 3, 4)

# The node value in the show's language: English, French and Arabic are written, others get English.
_DAY_NAMES = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "fr": ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
    "ar": ("الاثنين", "الثلاثاء", "الأربعاء", "الخميس", "الجمعة", "السبت", "الأحد"),
}
_TEXTS = {
    "en": {
        "daily": "Daily",
        "weekdays": "Every weekday",
        "weekly": "Every {days}",
        "biweekly": "Every other {days}",
        "monthly": "Monthly, on day {day}",
    },
    "fr": {
        "daily": "Tous les jours",
        "weekdays": "Du lundi au vendredi",
        "weekly": "Chaque {days}",
        "biweekly": "Un {days} sur deux",
        "monthly": "Tous les mois, le {day}",
    },
    "ar": {
        "daily": "يوميًا",
        "weekdays": "من الاثنين إلى الجمعة",
        "weekly": "أسبوعيًا، {days}",
        "biweekly": "كل أسبوعين، {days}",
        "monthly": "شهريًا، في اليوم {day} من الشهر",
    },
}


@dataclass(frozen=True)
class Schedule:
    """A release schedule: the text people read and its iCalendar recurrence rule."""

    text: str
    rrule: str


def derive_schedule(publish_times: Iterable[datetime], time_zone: str, language: str) -> Schedule | None:
    """The schedule the latest publishing times keep to, worded in `language`; None when they keep none."""
    zone = _zone(time_zone)
    days = sorted(moment.astimezone(zone).date() for moment in publish_times)[-WINDOW:]
    if len(days) < MIN_EPISODES:
        return None
    words = _words(language)
    gaps = [(later - earlier).days for earlier, later in pairwise(days)]
    if all(gap == 1 for gap in gaps):
        return Schedule(words["daily"], "FREQ=DAILY")
    weekdays = sorted({day.weekday() for day in days})
    if len(weekdays) == 1:
        return _one_day_a_week(gaps, weekdays[0], language, words)
    if len(days) >= len(weekdays) + 2 and all(
        gap == _days_to_next(day.weekday(), weekdays) for day, gap in zip(days, gaps, strict=False)
    ):
        rule = "FREQ=WEEKLY;BYDAY=" + ",".join(RRULE_DAYS[n] for n in weekdays)
        if tuple(weekdays) == WEEKDAYS:
            return Schedule(words["weekdays"], rule)
        return Schedule(words["weekly"].format(days=_listed(weekdays, language)), rule)
    return _monthly(days, words)


def _one_day_a_week(gaps: list[int], weekday: int, language: str, words: dict[str, str]) -> Schedule | None:
    day = RRULE_DAYS[weekday]
    if all(gap == 7 for gap in gaps):
        return Schedule(words["weekly"].format(days=_listed([weekday], language)), f"FREQ=WEEKLY;BYDAY={day}")
    if all(gap == 14 for gap in gaps):
        return Schedule(
            words["biweekly"].format(days=_listed([weekday], language)), f"FREQ=WEEKLY;INTERVAL=2;BYDAY={day}"
        )
    return None


def _monthly(days: list[date], words: dict[str, str]) -> Schedule | None:
    """The same day of every month, month after month."""
    first = days[0]
    months = [day.year * 12 + day.month for day in days]
    if any(day.day != first.day for day in days) or any(b - a != 1 for a, b in pairwise(months)):
        return None
    return Schedule(words["monthly"].format(day=first.day), f"FREQ=MONTHLY;BYMONTHDAY={first.day}")


def _days_to_next(weekday: int, weekdays: list[int]) -> int:
    """Days from `weekday` to the next day of the week in `weekdays` (7 when it is the only one)."""
    return min((other - weekday) % 7 or 7 for other in weekdays)


def _listed(weekdays: list[int], language: str) -> str:
    """Day names joined as the language joins a list: "Monday, Wednesday and Friday", "يوم الاثنين"."""
    names = [_DAY_NAMES.get(_base(language), _DAY_NAMES["en"])[n] for n in weekdays]
    if _base(language) == "ar":
        return ("يوم " if len(names) == 1 else "أيام ") + " و".join(names)
    if len(names) == 1:
        return names[0]
    last = " et " if _base(language) == "fr" else " and "
    return ", ".join(names[:-1]) + last + names[-1]


def _words(language: str) -> dict[str, str]:
    return _TEXTS.get(_base(language), _TEXTS["en"])


def _base(language: str) -> str:
    return (language or "en").split("-")[0].lower()


def _zone(name: str) -> tzinfo:
    """The show's zone; UTC for a name this server's tz database does not know."""
    if not name or name == "UTC":
        return UTC
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return UTC
