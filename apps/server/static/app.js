// mmrnn serve web page: plain JS, no build step. Talks to the JSON API of the same server.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { file: null, bitmap: null, caption: null, history: [], videoTasks: [] };

function setStatus(text, busy = false) {
  $("status").textContent = text;
  $("status").className = busy ? "busy" : "";
}

// A server started with a token (--token / MMRNN_TOKEN) answers 401 without it: the page then shows
// a token field; the token is kept for this tab (sessionStorage) and sent as a bearer token.
function authHeaders() {
  const token = sessionStorage.getItem("mmrnn-token");
  return token ? { Authorization: `Bearer ${token}` } : {};
}

function askForToken() {
  $("token-form").hidden = false;
  setStatus("this server needs its token: enter it above");
}

// POST a multipart form: the file as `field` ("image", or "video" for a video task) and the fields.
async function post(path, fields, file = state.file, field = "image") {
  const form = new FormData();
  form.append(field, file, file.name || field);
  for (const [key, value] of Object.entries(fields)) form.append(key, value);
  const response = await fetch(path, { method: "POST", body: form, headers: authHeaders() });
  if (response.status === 401) askForToken();
  let body = null;
  try { body = await response.json(); } catch (_) { body = { error: `HTTP ${response.status}` }; }
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

// Draw the image on `canvas`; with `map` (h*w weights on a `grid` [h, w]) dim where the model did
// not look and tint where it did (min-max normalised, bilinear upsampling), like `mmrnn caption --attention-map`.
function draw(canvas, map, grid) {
  const ctx = canvas.getContext("2d");
  const size = canvas.width;
  ctx.clearRect(0, 0, size, size);
  if (!state.bitmap) return;
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(state.bitmap, 0, 0, size, size);
  if (!map) return;
  const [h, w] = grid;
  const low = Math.min(...map), high = Math.max(...map);
  const span = Math.max(high - low, 1e-8);
  const shade = document.createElement("canvas"), tint = document.createElement("canvas");
  for (const c of [shade, tint]) { c.width = w; c.height = h; }
  const dark = shade.getContext("2d").createImageData(w, h), red = tint.getContext("2d").createImageData(w, h);
  map.forEach((value, i) => {
    const heat = (value - low) / span;
    dark.data.set([0, 0, 0, Math.round(255 * 0.75 * (1 - heat))], 4 * i);
    red.data.set([255, 0, 0, Math.round(255 * 0.35 * heat)], 4 * i);
  });
  shade.getContext("2d").putImageData(dark, 0, 0);
  tint.getContext("2d").putImageData(red, 0, 0);
  ctx.drawImage(shade, 0, 0, size, size);
  ctx.drawImage(tint, 0, 0, size, size);
}

function showWord(index) {
  const attention = state.caption && state.caption.attention;
  document.querySelectorAll(".word").forEach((el, i) => el.classList.toggle("active", i === index));
  if (index === null || !attention) {
    draw($("view"), null);
    $("view-label").textContent = state.file ? state.file.name : "no image yet";
    return;
  }
  draw($("view"), attention.maps[index], attention.grid);
  $("view-label").textContent = `attention for “${attention.labels[index]}”`;
}

async function caption() {
  if (!state.file) return;
  const el = $("caption");
  el.textContent = "";
  el.classList.remove("done");
  $("words").replaceChildren();
  setStatus("captioning…", true);
  try {
    const result = await post("/v1/caption", { beam_size: $("beam").value });
    state.caption = result;
    el.textContent = result.caption;
    el.classList.add("done");
    const words = $("words");
    result.words.forEach((word, i) => {
      const button = document.createElement("button");
      button.className = "word";
      button.type = "button";
      const thumb = document.createElement("canvas");
      thumb.width = thumb.height = 96;
      if (result.attention) draw(thumb, result.attention.maps[i], result.attention.grid);
      else draw(thumb, null);
      const label = document.createElement("div");
      label.textContent = word;
      button.append(thumb, label);
      button.addEventListener("click", () => showWord(button.classList.contains("active") ? null : i));
      words.append(button);
    });
    setStatus("");
  } catch (error) {
    setStatus(`caption: ${error.message}`);
  }
}

async function choose(file) {
  if (!file) return;
  if (file.type.startsWith("video/") && state.videoTasks.length) return chooseVideo(file);
  state.file = file;
  state.caption = null;
  state.history = [];
  $("chat-log").replaceChildren();
  $("answers").replaceChildren();
  try {
    state.bitmap = await createImageBitmap(file);
  } catch (_) {
    state.bitmap = null;  // not an image the browser can show: the server will say what is wrong
  }
  showWord(null);
  await caption();
}

async function ask(event) {
  event.preventDefault();
  const question = $("question").value;
  if (!state.file) return setStatus("choose an image first");
  setStatus("thinking…", true);
  try {
    const result = await post("/v1/vqa", { question, top: "5" });
    const list = $("answers");
    list.replaceChildren();
    for (const { answer, probability } of result.answers) {
      const item = document.createElement("li");
      item.textContent = `${answer} (${probability.toFixed(3)})`;
      const bar = document.createElement("span");
      bar.className = "bar";
      bar.style.width = `${Math.round(150 * probability)}px`;
      item.append(bar);
      list.append(item);
    }
    setStatus("");
  } catch (error) {
    setStatus(`question: ${error.message}`);
  }
}

function say(who, text) {
  const line = document.createElement("div");
  line.className = `msg ${who}`;
  line.textContent = text;
  $("chat-log").append(line);
  $("chat-log").scrollTop = $("chat-log").scrollHeight;
}

async function chat(event) {
  event.preventDefault();
  const question = $("chat-input").value;
  if (!state.file) return setStatus("choose an image first");
  setStatus("thinking…", true);
  try {
    const result = await post("/v1/dialog", { question, history: JSON.stringify(state.history) });
    say("you", result.question);
    say("bot", result.answer);
    state.history.push({ question: result.question, answer: result.answer });
    $("chat-input").value = "";
    setStatus("");
  } catch (error) {
    setStatus(`dialog: ${error.message}`);
  }
}

// Video tasks (GET /v1/models says which routes upload a video): the chosen clip goes to each of
// them; each answer's GIF (the clip with the label of every frame, or the caption, under it) is shown
// with its text.
function runs(labels) {  // ["still", "still", "left"] -> "still ×2 → left"
  const parts = [];
  for (const label of labels) {
    const last = parts[parts.length - 1];
    if (last && last.label === label) last.count += 1;
    else parts.push({ label, count: 1 });
  }
  return parts.map(({ label, count }) => (count > 1 ? `${label} ×${count}` : label)).join(" → ");
}

// The answer in one line: a caption (video_caption), the classes with their probabilities (action),
// or the frame labels as runs (frames).
function describeVideo(result) {
  if (typeof result.caption === "string") return result.caption;
  if (Array.isArray(result.classes) && result.classes.length) {
    return result.classes.map((c) => `${c.class ?? c.label} (${Number(c.probability).toFixed(3)})`).join(" · ");
  }
  if (typeof result.label === "string") return result.label;
  if (Array.isArray(result.frames)) return runs(result.frames.map((f) => (typeof f === "string" ? f : f.label)));
  return "";
}

async function chooseVideo(file) {
  if (!file) return;
  const results = $("video-results");
  results.replaceChildren();
  $("video-status").textContent = "reading the video…";
  $("video-status").className = "busy";
  const failures = [];
  await Promise.all(state.videoTasks.map(async (task) => {
    const card = document.createElement("div");
    card.className = "video-result";
    card.dataset.task = task;
    const title = document.createElement("h3");
    title.textContent = task;
    const gif = document.createElement("img");
    gif.alt = `${task}: the clip with the model's answer`;
    gif.hidden = true;
    const text = document.createElement("p");
    text.className = "result";
    card.append(title, gif, text);
    results.append(card);
    try {
      const result = await post(`/v1/${task}`, { gif: "1" }, file, "video");
      if (result.gif) {
        gif.src = `data:image/gif;base64,${result.gif}`;
        gif.hidden = false;
      }
      text.textContent = describeVideo(result);
      card.classList.add("done");
    } catch (error) {
      text.textContent = error.message;
      card.classList.add("failed");
      failures.push(task);
    }
  }));
  $("video-status").textContent = failures.length ? `${file.name}: ${failures.join(", ")} failed` : "";
  $("video-status").className = "";
}

async function listModels() {
  try {
    const response = await fetch("/v1/models", { headers: authHeaders() });
    if (response.status === 401) {
      askForToken();
      $("models").textContent = "token needed";
      return;
    }
    const { models } = await response.json();
    $("models").textContent = models.map((m) => `${m.task}: ${m.model}`).join(" · ") || "no models";
    state.videoTasks = models.filter((m) => m.upload === "video").map((m) => m.task);
    $("video-panel").hidden = state.videoTasks.length === 0;
  } catch (_) {
    $("models").textContent = "models unknown";
  }
}

$("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem("mmrnn-token", $("token").value.trim());
  $("token-form").hidden = true;
  setStatus("");
  listModels();
});
$("file").addEventListener("change", (event) => choose(event.target.files[0]));
$("video-file").addEventListener("change", (event) => chooseVideo(event.target.files[0]));
$("beam").addEventListener("change", caption);
$("vqa-form").addEventListener("submit", ask);
$("chat-form").addEventListener("submit", chat);
$("chat-reset").addEventListener("click", () => { state.history = []; $("chat-log").replaceChildren(); });
const drop = $("drop");
drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  choose(event.dataTransfer.files[0]);
});
listModels();
