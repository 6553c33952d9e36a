"""Apple Podcasts categories: the 2019 list, exact case, and how a category lands in the feed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from lxml import etree

from podcast_host.feeds.build import FeedLinks, build_feed
from podcast_host.feeds.categories import (
    APPLE_CATEGORIES,
    CATEGORY_CHOICES,
    format_category,
    validate_category,
)
from podcast_host.models import Show

ITUNES = "http://www.itunes.com/dtds/podcast-1.0.dtd"
NOW = datetime(2025, 3, 1, tzinfo=UTC)


def test_category_with_subcategory_is_split() -> None:
    assert validate_category("News/Politics") == ("News", "Politics")


def test_top_level_category_alone_is_accepted() -> None:
    assert validate_category("True Crime") == ("True Crime", None)


def test_spaces_around_the_parts_are_forgiven() -> None:
    assert validate_category("  Society & Culture / Documentary ") == ("Society & Culture", "Documentary")


@pytest.mark.parametrize(
    "value", ["Cooking", "Foo/Bar", "News/Gossip", "History/Ancient", "News/Politics/Local"]
)
def test_unknown_category_is_refused_with_a_sentence(value: str) -> None:
    with pytest.raises(ValueError, match=r"is not an Apple Podcasts category\."):
        validate_category(value)


def test_pre_2019_category_is_refused() -> None:
    # "Games & Hobbies" and "Technology/Podcasting" were retired in 2019.
    for retired in ("Games & Hobbies", "Technology/Podcasting", "Science & Medicine"):
        with pytest.raises(ValueError):
            validate_category(retired)


def test_wrong_case_is_refused_with_the_right_spelling() -> None:
    with pytest.raises(ValueError, match='Did you mean "News/Politics"\\? Case matters.'):
        validate_category("news/politics")


def test_subcategory_under_the_wrong_parent_gets_a_suggestion() -> None:
    with pytest.raises(ValueError, match='Did you mean "News/Tech News"'):
        validate_category("Technology/Tech News")


def test_typo_gets_a_suggestion() -> None:
    with pytest.raises(ValueError, match='Did you mean "Sports/Running"'):
        validate_category("Sports/Runing")


def test_empty_category_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        validate_category("  ")


def test_list_has_apples_19_categories_and_every_choice_round_trips() -> None:
    assert len(APPLE_CATEGORIES) == 19
    assert len(CATEGORY_CHOICES) == 19 + sum(len(subs) for subs in APPLE_CATEGORIES.values())
    for choice in CATEGORY_CHOICES:
        assert format_category(*validate_category(choice)) == choice


def _feed_for(category: str) -> bytes:
    show = Show(
        slug="s", title="Show", description="d", language="en", author="A", email="a@example.com",
        category=category, explicit=False, show_type="episodic", medium="podcast", locked=False,
        podcast_guid="", updated_at=NOW - timedelta(days=1),
    )  # fmt: skip
    links = FeedLinks(
        feed_url="https://example.com/s/feed.xml",
        show_page_url="https://example.com/s/",
        image_url=lambda key: f"https://example.com/{key}",
        episode_page_url=lambda ep: "https://example.com/s/e/",
        enclosure_url=lambda ep: "https://example.com/e.mp3",
        low_data_url=lambda ep: "https://example.com/e.opus",
        chapters_url=lambda ep: "https://example.com/c.json",
        transcript_url=lambda ep: "https://example.com/t.vtt",
    )
    return build_feed(show, [], links, NOW)


def test_ampersand_category_is_escaped_and_nested_in_the_feed() -> None:
    data = _feed_for("Society & Culture/Places & Travel")
    assert b'<itunes:category text="Society &amp; Culture">' in data
    assert b'<itunes:category text="Places &amp; Travel"/>' in data
    category = etree.fromstring(data).find(f"channel/{{{ITUNES}}}category")
    assert category.get("text") == "Society & Culture"
    assert [sub.get("text") for sub in category] == ["Places & Travel"]


def test_top_level_category_has_no_subcategory_in_the_feed() -> None:
    category = etree.fromstring(_feed_for("History")).find(f"channel/{{{ITUNES}}}category")
    assert category.get("text") == "History" and len(category) == 0
