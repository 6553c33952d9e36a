// The listener's player, on the episode page and in the embed: chapters and transcript lines seek the player
// and the ones playing are marked aria-current; soundbites play their clip and pause at its end; copy buttons
// copy the feed URL or the embed code. Without this script the page still plays, soundbites are links to the
// audio at their clip, and the fields to copy from are plain selectable text.
const player = () => document.getElementById("player");

function seekTo(seconds) {
  const audio = player();
  if (!audio) return;
  audio.currentTime = seconds;
  audio.play().catch(() => {});
}

function copy(button) {
  const field = document.getElementById(button.dataset.copy);
  if (!field) return;
  field.select();
  const done = () => { button.textContent = button.dataset.copied; };
  if (navigator.clipboard) {
    navigator.clipboard.writeText(field.value).then(done, () => {});
  } else if (document.execCommand("copy")) {
    done();
  }
}

document.addEventListener("click", (event) => {
  const seek = event.target.closest("button.seek");
  if (seek) {
    endClip();
    seekTo(Number(seek.dataset.start));
    return;
  }
  const bite = event.target.closest("button.soundbite");
  if (bite) {
    if (clip && clip.button === bite) endClip(true);
    else playClip(bite);
    return;
  }
  const button = event.target.closest("button.copy");
  if (button) copy(button);
});

document.addEventListener("change", (event) => {
  if (event.target.matches("select.chapter-select")) {
    endClip();
    seekTo(Number(event.target.value));
  }
});

// They do nothing without the script, so they show only with it.
for (const button of document.querySelectorAll("button.copy")) button.hidden = false;

// --- what is playing ------------------------------------------------------------------------------------

// Timed parts of the episode in start order: {start, end (or Infinity), element}.
function timed(elements) {
  return Array.from(elements, (element) => ({
    start: Number(element.dataset.start ?? element.value),
    end: element.dataset.end ? Number(element.dataset.end) : Infinity,
    element,
  }));
}

// The part playing at `time`: the last one started, unless it has already ended.
function playing(parts, time) {
  let found = null;
  for (const part of parts) {
    if (part.start > time) break;
    found = part;
  }
  return found && time < found.end ? found : null;
}

const chapters = timed(document.querySelectorAll("ol.chapters > li[data-start]"));
const chapterSelect = document.querySelector("select.chapter-select");
const chapterOptions = chapterSelect ? timed(chapterSelect.options) : [];
let transcriptLines = [];
const marked = new Map();

// aria-current on the part playing in `parts`, off the one marked before; returns whether it moved.
function mark(name, parts, time) {
  const now = playing(parts, time);
  const before = marked.get(name) ?? null;
  if (now === before) return false;
  before?.element.removeAttribute("aria-current");
  now?.element.setAttribute("aria-current", "true");
  marked.set(name, now);
  return now !== null;
}

// Keeps the playing line in view inside the transcript's own scrolling box; the page itself stays put.
function keepInView(list, item) {
  const top = item.offsetTop;
  if (top < list.scrollTop || top + item.offsetHeight > list.scrollTop + list.clientHeight) {
    list.scrollTop = Math.max(top - list.clientHeight / 3, 0);
  }
}

function follow() {
  const time = player().currentTime;
  mark("chapter", chapters, time);
  if (mark("line", transcriptLines, time)) {
    keepInView(document.getElementById("transcript"), marked.get("line").element);
  }
  const option = playing(chapterOptions, time);
  if (chapterSelect && option && document.activeElement !== chapterSelect) {
    chapterSelect.value = option.element.value;
  }
}

if (player()) {
  for (const type of ["timeupdate", "seeked"]) player().addEventListener(type, follow);
}

// --- the transcript -------------------------------------------------------------------------------------

// "00:01:02.500" or "01:02,500" (SRT) -> seconds
function toSeconds(stamp) {
  const parts = stamp.trim().split(/\s+/)[0].replace(",", ".").split(":").map(Number);
  return parts.reduce((total, part) => total * 60 + part, 0);
}

function parseCues(text) {
  const cues = [];
  for (const block of text.replace(/\r/g, "").split(/\n\n+/)) {
    const lines = block.split("\n");
    const timing = lines.findIndex((line) => line.includes("-->"));
    if (timing < 0) continue;
    const [start, end] = lines[timing].split("-->").map(toSeconds);
    const words = lines.slice(timing + 1).join(" ").replace(/<[^>]*>/g, "").trim();
    if (words) cues.push({ start, end, words });
  }
  return cues.sort((a, b) => a.start - b.start);
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
      item.dataset.start = String(cue.start);
      if (Number.isFinite(cue.end)) item.dataset.end = String(cue.end);
      const button = document.createElement("button");
      button.type = "button";
      button.className = "seek";
      button.dataset.start = String(cue.start);
      button.textContent = clock(cue.start);
      item.append(button, " ", cue.words);
      list.append(item);
    }
    transcriptLines = timed(list.children);
    if (player()) follow();
  } catch {
    // The download link above still works.
  }
}

showTranscript();

// --- the low-data file ------------------------------------------------------------------------------------

// "Low data" plays the episode's small Opus file instead of the MP3, from where the player was; the choice is
// remembered on this device. Shown only where the browser can play Ogg Opus.
const LOW_DATA_KEY = "podcast-host-low-data";

function useLowData(button, on) {
  const audio = player();
  if (!audio) return;
  const at = audio.currentTime;
  const playing = !audio.paused;
  if (!button.dataset.mp3) button.dataset.mp3 = audio.currentSrc || audio.src;
  audio.src = on ? button.dataset.src : button.dataset.mp3;
  button.setAttribute("aria-pressed", String(on));
  try {
    localStorage.setItem(LOW_DATA_KEY, on ? "1" : "0");
  } catch {
    // Private browsing: the choice lasts for this page only.
  }
  if (at > 0) audio.currentTime = at;
  if (playing) audio.play().catch(() => {});
}

(() => {
  const button = document.getElementById("low-data");
  const audio = player();
  if (!button || !audio || !audio.canPlayType(button.dataset.type)) return;
  button.hidden = false;
  button.addEventListener("click", () => useLowData(button, button.getAttribute("aria-pressed") !== "true"));
  let remembered = null;
  try {
    remembered = localStorage.getItem(LOW_DATA_KEY);
  } catch {
    remembered = null;
  }
  if (remembered === "1") useLowData(button, true);
})();

// --- soundbites -------------------------------------------------------------------------------------------

// A soundbite plays from its start and pauses at its end. The player's timeupdate comes a few times a second,
// so a timer set for the end stops it on time; a seek elsewhere, a chapter or another clip ends the clip.
let clip = null; // {button, start, end, timer}

function endClip(pause = false) {
  if (!clip) return;
  clearTimeout(clip.timer);
  clip.button.setAttribute("aria-pressed", "false");
  clip = null;
  if (pause) player()?.pause();
}

function playClip(button) {
  const audio = player();
  if (!audio) return;
  endClip();
  clip = { button, start: Number(button.dataset.start), end: Number(button.dataset.end), timer: 0 };
  button.setAttribute("aria-pressed", "true");
  audio.currentTime = clip.start;
  audio.play().catch(() => endClip());
}

// Pauses at the clip's end, or sets a timer for it while the clip plays (checked again when it fires).
function watchClip() {
  const audio = player();
  if (!clip || !audio || audio.seeking) return;
  clearTimeout(clip.timer);
  const left = clip.end - audio.currentTime;
  if (left <= 0.02) {
    endClip(true);
  } else if (!audio.paused) {
    clip.timer = setTimeout(watchClip, (left * 1000) / (audio.playbackRate || 1));
  }
}

(() => {
  const audio = player();
  const bites = document.querySelectorAll("button.soundbite");
  if (!audio || !bites.length) return;
  // The buttons take the place of the links, which stay for a page without this script.
  for (const button of bites) {
    button.hidden = false;
    button.setAttribute("aria-pressed", "false");
    const link = button.parentElement.querySelector("a.soundbite-link");
    if (link) link.hidden = true;
  }
  audio.addEventListener("seeking", () => {
    // Anywhere but the clip's start, the seek is the listener's: the clip is over.
    if (clip && Math.abs(audio.currentTime - clip.start) > 0.25) endClip();
  });
  for (const type of ["seeked", "timeupdate", "playing", "ratechange"]) audio.addEventListener(type, watchClip);
  audio.addEventListener("pause", () => clearTimeout(clip?.timer));
})();
