// The dashboard's small scripts: upload with a progress bar, self-updating processing status,
// live preview of Markdown notes, and local date-times. Every page works without them, less comfortably.
"use strict";

const FINAL = ["published", "draft", "scheduled", "failed"];
const POLL_MS = 1000;

// The sentences below in the interface's language: the layout writes them, translated, into #interface-text.
const TEXT = JSON.parse(document.getElementById("interface-text")?.textContent || "{}");

function say(key, values = {}) {
  let sentence = TEXT[key] || key;
  for (const [name, value] of Object.entries(values)) sentence = sentence.replaceAll(`%(${name})s`, value);
  return sentence;
}

function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]').content;
}

function megabytes(bytes) {
  return (bytes / 1048576).toFixed(1);
}

// --- local date-times -----------------------------------------------------------------------------------

// Times of the account and the team (token and invitation expiry) in the browser's zone. Publication times
// are not marked data-local: the server writes them on the show's clock, and typed ones are read on it.
function setUpLocalTimes(root) {
  for (const time of root.querySelectorAll("time[data-local]")) {
    const date = new Date(time.getAttribute("datetime"));
    time.textContent = date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  }
}

// The date of publication only matters when "Schedule for a date" is chosen.
function setUpScheduleChoice(root) {
  for (const block of root.querySelectorAll("[data-shown-when]")) {
    const radios = block.closest("form").querySelectorAll('input[name="when"]');
    const update = () => {
      const chosen = [...radios].find((radio) => radio.checked);
      block.hidden = !chosen || chosen.value !== block.dataset.shownWhen;
    };
    for (const radio of radios) radio.addEventListener("change", update);
    update();
  }
}

// --- processing status ----------------------------------------------------------------------------------

function statusBadge(status) {
  const badge = document.createElement("span");
  badge.className = `badge status-${status}`;
  badge.textContent = TEXT.statuses?.[status] || status;
  return badge;
}

function showStatus(output, state) {
  output.replaceChildren(statusBadge(state.status));
  if (!state.final) output.append(` ${Math.round(state.progress * 100)} %`);
  if (state.error) output.append(` — ${state.error}`);
}

// Ask the status URL every second until the status is final; `done` gets the last answer.
function pollStatus(url, output, done) {
  const tick = async () => {
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" });
      if (response.ok) {
        const state = await response.json();
        showStatus(output, state);
        if (state.final) {
          done(state);
          return;
        }
      } else if (response.status < 500) {
        // Signed out, no longer allowed, or deleted: asking again will not help.
        output.textContent = say("status_unreadable", { status: response.status });
        return;
      }
    } catch (error) {
      // A dropped connection is passing: the next tick tries again.
    }
    setTimeout(tick, POLL_MS);
  };
  tick();
}

function setUpStatusLines(root) {
  for (const line of root.querySelectorAll("[data-status-url]")) {
    const output = line.querySelector("output");
    pollStatus(line.dataset.statusUrl, output, () => {
      if (line.hasAttribute("data-reload-when-final")) window.location.reload();
    });
  }
}

// --- upload with progress -------------------------------------------------------------------------------

function showFieldErrors(form, error) {
  for (const message of form.querySelectorAll(".error[id^='error-']")) {
    message.hidden = true;
    message.textContent = "";
  }
  const target = form.querySelector(`#error-${CSS.escape(error.field || "audio")}`) ||
    form.querySelector("#error-audio");
  target.textContent = error.message;
  target.hidden = false;
  const input = form.querySelector(`#f-${CSS.escape(error.field || "audio")}`);
  if (input) {
    input.setAttribute("aria-invalid", "true");
    input.focus();
  }
}

function uploadFailed(form, xhr, button) {
  const message = xhr.status ? say("upload_failed", { status: xhr.status }) : say("upload_unanswered");
  let error = { field: "audio", message };
  try {
    error = JSON.parse(xhr.responseText).error || error;
  } catch (ignored) {
    // Not JSON (a proxy's page): keep the generic message.
  }
  showFieldErrors(form, error);
  button.disabled = false;
  form.querySelector("#upload-text").textContent = say("not_uploaded");
}

function uploaded(form, state) {
  const output = form.querySelector("#processing-status");
  showStatus(output, state);
  pollStatus(state.status_url, output, (last) => {
    const links = form.querySelector("#processing-links");
    const edit = Object.assign(document.createElement("a"), { href: last.edit_url, textContent: say("open_episode") });
    links.replaceChildren(edit);
    if (last.page_url) {
      const page = Object.assign(document.createElement("a"), { href: last.page_url, textContent: say("public_page") });
      links.append(" · ", page);
    }
    links.hidden = false;
  });
}

function setUpUpload(form) {
  const panel = form.querySelector(".upload-status");
  const bar = form.querySelector("#upload-progress");
  const text = form.querySelector("#upload-text");
  const button = form.querySelector("#upload-button");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("X-CSRF-Token", csrfToken());
    xhr.upload.addEventListener("progress", (progress) => {
      if (!progress.lengthComputable) return;
      bar.value = (progress.loaded / progress.total) * 100;
      bar.textContent = `${Math.floor(bar.value)} %`;
      text.textContent = say("upload_progress", {
        percent: `${Math.floor(bar.value)} %`,
        done: megabytes(progress.loaded),
        total: megabytes(progress.total),
      });
    });
    xhr.upload.addEventListener("load", () => {
      bar.value = 100;
      text.textContent = say("checking");
    });
    xhr.addEventListener("load", () => {
      if (xhr.status === 202) {
        text.textContent = say("uploaded");
        uploaded(form, JSON.parse(xhr.responseText));
      } else {
        uploadFailed(form, xhr, button);
      }
    });
    xhr.addEventListener("error", () => uploadFailed(form, xhr, button));
    panel.hidden = false;
    button.disabled = true;
    bar.value = 0;
    text.textContent = say("starting");
    xhr.send(new FormData(form));
  });
}

// --- notes preview --------------------------------------------------------------------------------------

function setUpPreview(textarea) {
  const target = document.getElementById(textarea.dataset.preview);
  let timer = null;
  let latest = 0;
  const render = async () => {
    const ticket = ++latest;
    const body = new URLSearchParams({ markdown: textarea.value });
    const response = await fetch(textarea.dataset.previewUrl, {
      method: "POST",
      body,
      headers: { Accept: "application/json", "X-CSRF-Token": csrfToken() },
    });
    // The server sanitizes the HTML (nh3); answers that arrive out of order are dropped.
    if (response.ok && ticket === latest) target.innerHTML = (await response.json()).html;
  };
  textarea.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => render().catch(() => {}), 250);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setUpLocalTimes(document);
  setUpScheduleChoice(document);
  setUpStatusLines(document);
  for (const form of document.querySelectorAll("form[data-upload]")) setUpUpload(form);
  for (const textarea of document.querySelectorAll("textarea[data-preview]")) setUpPreview(textarea);
});
