// Chapter buttons seek the player; the copy button copies the feed URL; the transcript is shown as cues
// that seek the player too.
const player = () => document.getElementById("player");

function seekTo(seconds) {
  const audio = player();
  if (!audio) return;
  audio.currentTime = seconds;
  audio.play().catch(() => {});
}

document.addEventListener("click", (event) => {
  const seek = event.target.closest("button.seek");
  if (seek) {
    seekTo(Number(seek.dataset.start));
    return;
  }
  const copy = event.target.closest("button.copy");
  if (copy) {
    const input = document.getElementById(copy.dataset.copy);
    input.select();
    navigator.clipboard?.writeText(input.value).then(() => { copy.textContent = "Copied"; }, () => {});
  }
});

// "00:01:02.500" or "01:02,500" (SRT) -> seconds
function toSeconds(stamp) {
  const parts = stamp.trim().replace(",", ".").split(":").map(Number);
  return parts.reduce((total, part) => total * 60 + part, 0);
}

function parseCues(text) {
  const cues = [];
  for (const block of text.replace(/\r/g, "").split(/\n\n+/)) {
    const lines = block.split("\n");
    const timing = lines.findIndex((line) => line.includes("-->"));
    if (timing < 0) continue;
    const start = toSeconds(lines[timing].split("-->")[0]);
    const words = lines.slice(timing + 1).join(" ").replace(/<[^>]*>/g, "").trim();
    if (words) cues.push({ start, words });
  }
  return cues;
}

function clock(seconds) {
  const s = Math.floor(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
}

async function showTranscript() {
  const list = document.getElementById("transcript");
  if (!list) return;
  try {
    const response = await fetch(list.dataset.src);
    if (!response.ok) return;
    for (const cue of parseCues(await response.text())) {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "seek";
      button.dataset.start = String(cue.start);
      button.textContent = clock(cue.start);
      item.append(button, " ", cue.words);
      list.append(item);
    }
  } catch {
    // The download link above still works.
  }
}

showTranscript();
