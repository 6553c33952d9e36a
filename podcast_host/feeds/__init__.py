"""The show's RSS feed: built (build.py, podcast_ns.py), cached and served (syndication.py), announced to
WebSub hubs (websub.py), with the URLs it publishes (links.py) and Apple's categories (categories.py)."""
