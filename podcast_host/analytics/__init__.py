"""Listener analytics: IAB-style downloads counted without keeping a listener's address (docs/analytics.md).

rules.py     what a request asks for and when it makes a download (pure)
clients.py   the app, device and OS of a User-Agent, and whether it is a bot (OPAWG data, crawlerdetect)
geo.py       the country of an address, from a MaxMind-format database
recorder.py  the media route's requests, buffered and written in batches off the response path
counting.py  requests into salted listener-days and daily tallies; old salts and rows forgotten
logs.py      access-log lines (combined, CloudFront, S3) read into requests
ingest.py    an access log counted once, however often it is given
report.py    the figures a show's team sees (API, CSV, dashboard)
charts.py    the dashboard's charts, drawn as SVG on the server
"""
