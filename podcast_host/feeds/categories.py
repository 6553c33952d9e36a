"""Apple Podcasts categories, and the check of a show's category written as "Category/Subcategory"."""

from __future__ import annotations

import difflib

# Apple's list in force since the 2019 overhaul: Apple Podcasts for Creators, "Apple Podcasts categories"
# (https://podcasters.apple.com/support/1691-apple-podcasts-categories). Case and spelling are exact:
# Apple and Podcast Index ignore a category they do not know, so a typo would silently unlist the show.
APPLE_CATEGORIES: dict[str, tuple[str, ...]] = {
    "Arts": ("Books", "Design", "Fashion & Beauty", "Food", "Performing Arts", "Visual Arts"),
    "Business": ("Careers", "Entrepreneurship", "Investing", "Management", "Marketing", "Non-Profit"),
    "Comedy": ("Comedy Interviews", "Improv", "Stand-Up"),
    "Education": ("Courses", "How To", "Language Learning", "Self-Improvement"),
    "Fiction": ("Comedy Fiction", "Drama", "Science Fiction"),
    "Government": (),
    "Health & Fitness": (
        "Alternative Health", "Fitness", "Medicine", "Mental Health", "Nutrition", "Sexuality",
    ),
    "History": (),
    "Kids & Family": ("Education for Kids", "Parenting", "Pets & Animals", "Stories for Kids"),
    "Leisure": (
        "Animation & Manga", "Automotive", "Aviation", "Crafts", "Games", "Hobbies", "Home & Garden",
        "Video Games",
    ),
    "Music": ("Music Commentary", "Music History", "Music Interviews"),
    "News": (
        "Business News", "Daily News", "Entertainment News", "News Commentary", "Politics", "Sports News",
        "Tech News",
    ),
    "Religion & Spirituality": (
        "Buddhism", "Christianity", "Hinduism", "Islam", "Judaism", "Religion", "Spirituality",
    ),
    "Science": (
        "Astronomy", "Chemistry", "Earth Sciences", "Life Sciences", "Mathematics", "Natural Sciences",
        "Nature", "Physics", "Social Sciences",
    ),
    "Society & Culture": (
        "Documentary", "Personal Journals", "Philosophy", "Places & Travel", "Relationships",
    ),
    "Sports": (
        "Baseball", "Basketball", "Cricket", "Fantasy Sports", "Football", "Golf", "Hockey", "Rugby",
        "Running", "Soccer", "Swimming", "Tennis", "Volleyball", "Wilderness", "Wrestling",
    ),
    "TV & Film": ("After Shows", "Film History", "Film Interviews", "Film Reviews", "TV Reviews"),
    "Technology": (),
    "True Crime": (),
}  # fmt: skip

SEPARATOR = "/"

# Every accepted value in the "Category/Subcategory" form, for forms and help texts.
CATEGORY_CHOICES: tuple[str, ...] = tuple(
    choice
    for top, subs in APPLE_CATEGORIES.items()
    for choice in (top, *(f"{top}{SEPARATOR}{sub}" for sub in subs))
)


def validate_category(value: str) -> tuple[str, str | None]:
    """Split "News/Politics" into ("News", "Politics"); ValueError, with a suggestion, if Apple lacks it."""
    text = value.strip()
    if not text:
        raise ValueError('The category is empty; give one from Apple\'s list, such as "News/Politics".')
    parts = [part.strip() for part in text.split(SEPARATOR)]
    choice = SEPARATOR.join(parts)
    if choice in CATEGORY_CHOICES:
        return parts[0], parts[1] if len(parts) == 2 else None
    raise ValueError(_unknown_category_message(text, choice))


def format_category(category: str, subcategory: str | None) -> str:
    """The stored form of a (category, subcategory) pair: "News/Politics" or "History"."""
    return f"{category}{SEPARATOR}{subcategory}" if subcategory else category


def _unknown_category_message(text: str, choice: str) -> str:
    message = f'"{text}" is not an Apple Podcasts category.'
    suggestion = _suggest(choice)
    if suggestion:
        case_note = " Case matters." if suggestion.casefold() == choice.casefold() else ""
        return f'{message} Did you mean "{suggestion}"?{case_note}'
    return f'{message} Use "Category" or "Category/Subcategory" from Apple\'s list, such as "News/Politics".'


def _suggest(choice: str) -> str | None:
    """The value the producer most likely meant: other case, subcategory under another parent, or a typo."""
    folded = {accepted.casefold(): accepted for accepted in CATEGORY_CHOICES}
    if choice.casefold() in folded:
        return folded[choice.casefold()]
    # A subcategory given under the wrong parent ("Technology/Tech News" is "News/Tech News").
    last = choice.rsplit(SEPARATOR, 1)[-1].casefold()
    moved = [accepted for accepted in CATEGORY_CHOICES if accepted.casefold().endswith(SEPARATOR + last)]
    if len(moved) == 1:
        return moved[0]
    close = difflib.get_close_matches(choice.casefold(), list(folded), n=1, cutoff=0.75)
    return folded[close[0]] if close else None
