// Reads an RSS feed on stdin and prints what Podcast Index's podcast-partytime makes of it, as one JSON line.
// Used by tests/test_feed.py; install with `npm ci --prefix tests/js`.
"use strict";

// partytime logs through pino to stdout; keep stdout for the result alone.
process.env.PARTYTIME_LOG = process.env.PARTYTIME_LOG || "silent";
const { parseFeed } = require("podcast-partytime");

const chunks = [];
process.stdin.on("data", (chunk) => chunks.push(chunk));
process.stdin.on("end", () => {
  const feed = parseFeed(Buffer.concat(chunks).toString("utf8"));
  if (!feed) {
    process.stderr.write("podcast-partytime could not parse the feed\n");
    process.exit(1);
  }
  process.stdout.write(JSON.stringify(feed) + "\n");
});
