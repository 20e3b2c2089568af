// spriteforge studio: a thin page over the HTTP API (/api/v1). No build step: plain modern JavaScript.
"use strict";

const API = "/api/v1";
const state = { runs: [], run: null, last: null, kept: [], selected: [], mask: null };
const $ = (id) => document.getElementById(id);

// ---- the token: a server started with --token needs it on every API request ------------------------------
// It comes in the address's fragment (http://host:8000/#token=...), which browsers never send to a server, and
// is kept for this tab only; without one, a 401 makes the page ask for it once.
const TOKEN_KEY = "spriteforge-token";
const fromAddress = new URLSearchParams(location.hash.slice(1)).get("token");
if (fromAddress) {
  sessionStorage.setItem(TOKEN_KEY, fromAddress);
  history.replaceState(null, "", location.pathname + location.search);  // out of the address bar and history
}
function withToken(options) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { ...options, headers: { ...(options.headers || {}), Authorization: `Bearer ${token}` } } : options;
}
async function authorised(url, options) {
  let response = await fetch(url, withToken(options));
  if (response.status === 401) {
    const token = window.prompt("This server needs its token (given to `spriteforge serve --token`):");
    if (token) {
      sessionStorage.setItem(TOKEN_KEY, token.trim());
      response = await fetch(url, withToken(options));
    }
  }
  return response;
}

// ---- requests: a busy indicator while one runs, errors shown in the page ------------------------------
let pending = 0;
async function call(path, options = {}, what = "working…") {
  pending += 1;
  $("busy-text").textContent = what;
  $("busy").hidden = false;
  $("error").hidden = true;
  try {
    const response = await authorised(API + path, options);
    if (!response.ok) {
      let detail = `${response.status} ${response.statusText}`;
      try { detail = (await response.json()).detail; } catch (e) { /* not JSON */ }
      throw new Error(typeof detail === "string" ? detail : JSON.stringify(detail));
    }
    return response;
  } catch (error) {
    showError(error.message);
    throw error;
  } finally {
    pending -= 1;
    $("busy").hidden = pending === 0;
  }
}
const postJSON = (path, body, what) =>
  call(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) }, what);
function showError(message) { $("error").textContent = message; $("error").hidden = false; }
const dataURL = (b64, type = "image/png") => `data:${type};base64,${b64}`;
function download(blob, name) {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}
function img(src, title = "") { const el = document.createElement("img"); el.src = src; el.title = title; return el; }
const runPath = (name) => `/runs/${name.split("/").map(encodeURIComponent).join("/")}`;

// ---- views ---------------------------------------------------------------------------------------------
document.querySelectorAll(".tab").forEach((tab) => tab.addEventListener("click", () => showView(tab.dataset.view)));
function showView(name) {
  document.querySelectorAll(".view").forEach((view) => { view.hidden = view.id !== name; });
  document.querySelectorAll(".tab").forEach((tab) => tab.classList.toggle("active", tab.dataset.view === name));
}

// ---- gallery -------------------------------------------------------------------------------------------
async function loadRuns() {
  const [runs, palettes] = await Promise.all([
    call("/runs", {}, "loading runs…").then((r) => r.json()),
    call("/palettes").then((r) => r.json()),
  ]);
  state.runs = runs.runs;
  const cards = $("run-cards");
  cards.replaceChildren();
  if (!state.runs.length) cards.textContent = "No runs in the served folder yet: train one with `spriteforge train`.";
  for (const run of state.runs) cards.append(runCard(run));
  const usable = state.runs.filter((run) => !run.error);
  // Generate offers only the runs that can sample (a VQ-VAE or a CycleGAN cannot: their cards say what they can).
  const generating = usable.filter((run) => run.capabilities.includes("sample"));
  $("run").replaceChildren(...generating.map((run) => new Option(`${run.name} (${run.model})`, run.name)));
  $("convert-model").append(...usable.filter((run) => run.capabilities.includes("translate"))
    .map((run) => new Option(run.name, run.name)));
  for (const name of Object.keys(palettes)) {
    $("palette").append(new Option(name, name));
    $("convert-palette").append(new Option(name, name));
    $("snap-palette").append(new Option(name, name));
  }
  if (generating.length) chooseRun(generating[0].name);
}

function runCard(run) {
  const card = document.createElement("div");
  card.className = "card";
  const title = document.createElement("h2");
  title.textContent = run.name;
  card.append(title);
  if (run.error) { card.append(document.createTextNode(run.error)); return card; }
  if (run.grid) {  // fetched, not an <img src>: an image request could not carry the token
    const grid = img("", "last training sample grid");
    card.append(grid);
    call(`${runPath(run.name)}/grid`).then(async (r) => { grid.src = URL.createObjectURL(await r.blob()); });
  }
  const facts = { model: `${run.model} (${run.representation})`, data: run.data, size: run.size.join("x"),
    colours: run.palette.length, labels: run.labels ? `${run.labels.names.length} (${run.labels.kind})` : "none" };
  for (const [key, value] of Object.entries(run.metrics || {})) {
    if (typeof value === "number" && /accuracy|adherence|images_per_second|steps/.test(key)) facts[key] = +value.toFixed(4);
  }
  const list = document.createElement("dl");
  for (const [key, value] of Object.entries(facts)) {
    const dt = document.createElement("dt"); dt.textContent = key;
    const dd = document.createElement("dd"); dd.textContent = value;
    list.append(dt, dd);
  }
  card.append(list);
  if (!run.capabilities.includes("sample")) {
    const note = document.createElement("p");
    note.className = "note";
    note.textContent = `This run cannot generate sprites; it can ${run.capabilities.filter((c) => c !== "param_groups").join(", ") || "nothing else"}.`;
    card.append(note);
    return card;
  }
  const open = document.createElement("button");
  open.textContent = "Generate from this run";
  open.addEventListener("click", () => { chooseRun(run.name); showView("generate"); });
  card.append(open);
  return card;
}

// ---- generator -----------------------------------------------------------------------------------------
$("run").addEventListener("change", (event) => chooseRun(event.target.value));
function chooseRun(name) {
  state.run = state.runs.find((run) => run.name === name);
  $("run").value = name;
  renderOptions(state.run.sample_options);
  const labels = state.run.conditional ? state.run.labels : null;
  $("labels").hidden = !labels;
  $("label-choices").replaceChildren();
  if (labels) {
    const type = labels.kind === "categorical" ? "radio" : "checkbox";
    labels.names.forEach((labelName, i) => {
      const choice = document.createElement("label");
      const input = document.createElement("input");
      Object.assign(input, { type, name: "label", value: labelName, checked: type === "radio" && i === 0 });
      choice.append(input, document.createTextNode(" " + labelName));
      $("label-choices").append(choice);
    });
  }
  const can = (capability) => state.run.capabilities.includes(capability);
  $("interpolate-button").dataset.capable = can("encode") ? "1" : "";
  $("vary-button").dataset.capable = can("vary") ? "1" : "";
  $("inpaint-button").dataset.capable = can("inpaint") ? "1" : "";
  // Fusion modes the run's model joins; "mask" needs a drawn mask, which the CLI and the API take.
  const modes = (state.run.fusion_modes || []).filter((mode) => mode !== "mask");
  $("fuse-mode").replaceChildren(...modes.map((mode) => Object.assign(document.createElement("option"), { value: mode, textContent: mode })));
  $("fuse-button").dataset.capable = modes.length ? "1" : "";
  $("fuse-label").hidden = !modes.length;
  // A run trained on sheets (sets of views or frames) completes a set from the sprites given in some of its slots.
  $("complete-panel").hidden = !(state.run.slots > 1 && can("inpaint"));
  $("complete-slots").textContent = state.run.slots;
  $("complete-slot").max = state.run.slots - 1;
  state.kept = []; state.selected = [];
  renderKept();
}

// One control per sampling option of the run's model, from the specs GET /runs/{run} returns (name, type, default,
// min, max, choices, help): a list of choices, a number with its range, true/false, or text. Empty = the default.
function renderOptions(specs) {
  $("sample-options").replaceChildren(...specs.map((spec) => {
    const label = document.createElement("label");
    label.title = spec.help;
    let control;
    if (spec.choices || spec.type === "bool") {
      control = document.createElement("select");
      control.append(new Option(`default${spec.default === null ? "" : ` (${spec.default})`}`, ""),
        ...(spec.choices || ["true", "false"]).map((choice) => new Option(choice, choice)));
    } else {
      control = document.createElement("input");
      control.type = spec.type === "str" ? "text" : "number";
      if (spec.min !== null) control.min = spec.min;
      if (spec.max !== null) control.max = spec.max;
      if (control.type === "number") control.step = spec.type === "int" ? "1" : "any";
      control.placeholder = spec.default === null ? "default" : String(spec.default);
    }
    Object.assign(control, { id: `option-${spec.name}` });
    Object.assign(control.dataset, { option: spec.name, type: spec.type });
    label.append(spec.name.replaceAll("_", " "), control);
    return label;
  }));
}
function optionValues() {
  const values = {};
  document.querySelectorAll("#sample-options [data-option]").forEach((control) => {
    if (control.value === "") return;
    const { option, type } = control.dataset;
    values[option] = type === "int" || type === "float" ? Number(control.value)
      : type === "bool" ? control.value === "true" : control.value;
  });
  return values;
}

function sampleRequest(format) {
  const number = (id) => ($(id).value === "" ? null : Number($(id).value));
  const request = { n: number("n"), seed: number("seed"), format, scale: 4,
    labels: [...document.querySelectorAll("#label-choices input:checked")].map((input) => input.value),
    palette: $("palette").value || null, ...optionValues() };
  return request;
}

$("sample-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const request = sampleRequest("json");
  const result = await (await postJSON(`${runPath(state.run.name)}/sample`, request, "sampling…")).json();
  state.last = { ...request, seed: result.seed };
  $("sample-info").textContent = `${result.sprites.length} sprites, seed ${result.seed}, ` +
    `palette adherence ${result.palette_adherence.toFixed(3)}`;
  $("sprites").replaceChildren(...result.sprites.map((b64, i) => {
    const sprite = img(dataURL(b64), `sprite ${i}: click to keep`);
    sprite.addEventListener("click", () => keep(b64));
    return sprite;
  }));
  const grid = $("download-grid");
  grid.href = dataURL(result.grid);
  for (const id of ["download-sheet", "download-zip", "download-aseprite", "download-atlas"]) $(id).hidden = false;
});

async function downloadAs(format, name) {
  const response = await postJSON(`${runPath(state.run.name)}/sample`, { ...state.last, format, scale: 1 }, "preparing download…");
  download(await response.blob(), name);
}
$("download-sheet").addEventListener("click", () => downloadAs("sheet", "sheet.png"));
$("download-zip").addEventListener("click", () => downloadAs("zip", "sprites.zip"));
$("download-aseprite").addEventListener("click", () => downloadAs("aseprite", "sprites.aseprite"));
$("download-atlas").addEventListener("click", () => downloadAs("atlas", "sprites_atlas.zip"));

// ---- kept sprites: interpolate, vary, inpaint, fuse ---------------------------------------------------
function keep(b64) { state.kept.push(b64); renderKept(); }
function renderKept() {
  $("kept").replaceChildren(...state.kept.map((b64, i) => {
    const sprite = img(dataURL(b64), "click to select");
    sprite.classList.toggle("selected", state.selected.includes(i));
    sprite.addEventListener("click", () => {
      state.selected = state.selected.includes(i) ? state.selected.filter((j) => j !== i) : [...state.selected, i].slice(-2);
      renderKept();
    });
    return sprite;
  }));
  const count = state.selected.length;
  $("interpolate-button").disabled = !($("interpolate-button").dataset.capable && count === 2);
  $("vary-button").disabled = !($("vary-button").dataset.capable && count === 1);
  $("inpaint-button").disabled = !($("inpaint-button").dataset.capable && count === 1);
  $("fuse-button").disabled = !($("fuse-button").dataset.capable && count === 2);
  $("strength-label").hidden = !$("vary-button").dataset.capable;
  if (count !== 1) $("mask-editor").hidden = true;
}
$("clear-kept").addEventListener("click", () => { state.kept = []; state.selected = []; $("derived").replaceChildren(); renderKept(); });

function showDerived(title, images, gif) {
  const block = document.createElement("div");
  const heading = document.createElement("h2");
  heading.textContent = title;
  block.append(heading);
  const row = document.createElement("div");
  row.className = "sprites";
  images.forEach((b64) => { const sprite = img(dataURL(b64), "click to keep"); sprite.addEventListener("click", () => keep(b64)); row.append(sprite); });
  block.append(row);
  if (gif) {
    const link = document.createElement("a");
    link.className = "button"; link.href = dataURL(gif, "image/gif"); link.download = "interpolation.gif";
    link.textContent = "Download GIF";
    block.append(img(dataURL(gif, "image/gif"), "interpolation"), link);
  }
  $("derived").prepend(block);
}

// Variations and inpainting ask for 8 sprites with the form's seed, labels and sampling options.
function generationOptions() {
  const { palette, remap, ...options } = sampleRequest("json");
  return { ...options, n: 8 };
}

$("interpolate-button").addEventListener("click", async () => {
  const [first, second] = state.selected.map((i) => state.kept[i]);
  const result = await (await postJSON(`${runPath(state.run.name)}/interpolate`,
    { first, second, steps: 8, format: "json", scale: 4 }, "interpolating…")).json();
  showDerived("Interpolation", result.sprites, result.gif);
});

$("vary-button").addEventListener("click", async () => {
  const sprite = state.kept[state.selected[0]];
  const result = await (await postJSON(`${runPath(state.run.name)}/vary`,
    { ...generationOptions(), sprite, strength: Number($("strength").value) }, "making variations…")).json();
  showDerived("Variations", result.sprites);
});

$("complete-button").addEventListener("click", async () => {
  const file = $("complete-file").files[0];
  if (!file) { showError("choose a sprite (a PNG at the run's sprite size) to complete a set from"); return; }
  const sprite = await new Promise((resolve) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);  // a data: URL, which the API accepts
    reader.readAsDataURL(file);
  });
  const given = [{ slot: Number($("complete-slot").value), sprite }];
  const result = await (await postJSON(`${runPath(state.run.name)}/complete`,
    { ...generationOptions(), given }, "completing the set…")).json();
  showDerived("Completed sets", result.sprites);
});

// The mask editor: one cell per sprite pixel; painted cells (1) are regenerated, the rest kept exactly.
$("inpaint-button").addEventListener("click", () => {
  const [width, height] = state.run.size;
  state.mask = new Uint8Array(width * height);
  $("mask-editor").hidden = false;
  drawMask();
});
function drawMask() {
  const canvas = $("mask-canvas");
  const [width, height] = state.run.size;
  canvas.width = width; canvas.height = height;
  const context = canvas.getContext("2d");
  const sprite = new Image();
  sprite.onload = () => {
    context.clearRect(0, 0, width, height);
    context.drawImage(sprite, 0, 0);
    context.fillStyle = "rgba(244, 185, 66, 0.7)";
    state.mask.forEach((on, i) => { if (on) context.fillRect(i % width, Math.floor(i / width), 1, 1); });
  };
  sprite.src = dataURL(state.kept[state.selected[0]]);
}
let painting = false;
function paint(event) {
  if (!painting) return;
  const canvas = $("mask-canvas");
  const box = canvas.getBoundingClientRect();
  const x = Math.floor(((event.clientX - box.left) / box.width) * canvas.width);
  const y = Math.floor(((event.clientY - box.top) / box.height) * canvas.height);
  if (x >= 0 && y >= 0 && x < canvas.width && y < canvas.height) { state.mask[y * canvas.width + x] = 1; drawMask(); }
}
$("mask-canvas").addEventListener("pointerdown", (event) => { painting = true; paint(event); });
$("mask-canvas").addEventListener("pointermove", paint);
window.addEventListener("pointerup", () => { painting = false; });
$("clear-mask").addEventListener("click", () => { state.mask.fill(0); drawMask(); });

function maskPNG() {
  const [width, height] = state.run.size;
  const canvas = document.createElement("canvas");
  canvas.width = width; canvas.height = height;
  const context = canvas.getContext("2d");
  const pixels = context.createImageData(width, height);
  state.mask.forEach((on, i) => { pixels.data.set(on ? [255, 255, 255, 255] : [0, 0, 0, 255], i * 4); });
  context.putImageData(pixels, 0, 0);
  return canvas.toDataURL("image/png");
}
$("run-inpaint").addEventListener("click", async () => {
  const sprite = state.kept[state.selected[0]];
  const result = await (await postJSON(`${runPath(state.run.name)}/inpaint`,
    { ...generationOptions(), sprite, mask: maskPNG() }, "inpainting…")).json();
  showDerived("Inpainted", result.sprites);
});

// Fusion: the first selected sprite is A, the second B; 8 fusions in the chosen mode.
$("fuse-button").addEventListener("click", async () => {
  const [first, second] = state.selected.map((i) => state.kept[i]);
  const mode = $("fuse-mode").value;
  const result = await (await postJSON(`${runPath(state.run.name)}/fuse`,
    { ...generationOptions(), first, second, mode }, "fusing…")).json();
  showDerived(`Fusions (${mode})`, result.sprites);
});

// ---- convert -------------------------------------------------------------------------------------------
$("convert-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const file = $("convert-file").files[0];
  if (!file) { showError("Choose an image to convert first."); return; }
  const results = $("convert-results");
  const original = document.createElement("div");
  original.className = "card original";
  const caption = document.createElement("h2");
  caption.textContent = `original: ${file.name}`;
  original.append(caption, img(URL.createObjectURL(file), file.name));
  results.replaceChildren(original);
  const size = $("convert-size").value;
  const jobs = ["none", "bayer4", "bayer8", "floyd"].map((dither) => ({ title: `classical, dither ${dither}`,
    fields: { size, palette: $("convert-palette").value, dither, downscale: $("convert-downscale").value,
              outline: $("convert-outline").checked, scale: 8, format: "json" } }));
  if ($("convert-model").value) {
    jobs.push({ title: `CycleGAN ${$("convert-model").value}`, fields: { size, model: $("convert-model").value, scale: 8, format: "json" } });
  }
  for (const job of jobs) {
    const form = new FormData();
    form.append("file", file);
    for (const [key, value] of Object.entries(job.fields)) form.append(key, value);
    const result = await (await call("/convert", { method: "POST", body: form }, `converting (${job.title})…`)).json();
    const card = document.createElement("div");
    card.className = "card";
    const heading = document.createElement("h2");
    heading.textContent = `${job.title}: ${result.width}x${result.height}, ${result.colors} colours`;
    const link = document.createElement("a");
    link.className = "button"; link.href = dataURL(result.image); link.download = "pixel.png"; link.textContent = "Download PNG";
    card.append(heading, img(dataURL(result.image)), link);
    results.append(card);
  }
});

// ---- snap: find the grid of fake pixel art, show it over the image, offer the true-size sprite --------------
$("snap-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const file = $("snap-file").files[0];
  if (!file) { showError("Choose an image to snap first."); return; }
  const form = new FormData();
  form.append("file", file);
  form.append("palette", $("snap-palette").value);
  if ($("snap-cell").value.trim()) form.append("cell", $("snap-cell").value.trim());
  if ($("snap-offset").value.trim()) form.append("offset", $("snap-offset").value.trim());
  form.append("format", "json");
  const result = await (await call("/snap", { method: "POST", body: form }, "finding the grid…")).json();
  const original = document.createElement("div");
  original.className = "card original";
  const caption = document.createElement("h2");
  caption.textContent = `grid found in ${file.name}`;
  const canvas = document.createElement("canvas");
  canvas.id = "snap-grid";
  original.append(caption, canvas);
  drawGrid(canvas, URL.createObjectURL(file), result);
  const sprite = document.createElement("div");
  sprite.className = "card";
  const heading = document.createElement("h2");
  heading.textContent = `${result.width}x${result.height} pixels, ${result.colors} colours`;
  const facts = document.createElement("p");
  facts.className = "hint";
  facts.textContent = `cell ${result.cell.map((v) => v.toFixed(2)).join("x")}, offset ` +
    `${result.offset.map((v) => v.toFixed(2)).join(",")}, confidence ${result.confidence.toFixed(2)}`;
  const link = document.createElement("a");
  link.className = "button"; link.href = dataURL(result.image); link.download = `${file.name.replace(/\.[^.]*$/, "")}_snapped.png`;
  link.textContent = "Download true-size PNG";
  sprite.append(heading, facts, img(dataURL(result.image), "the recovered sprite"), link);
  $("snap-results").replaceChildren(original, sprite);
});

// The uploaded image with the detected grid lines over it: enlarged by a whole factor (no smoothing), so that
// one-pixel lines stay thin next to small cells.
function drawGrid(canvas, source, result) {
  const picture = new Image();
  picture.onload = () => {
    const scale = Math.max(1, Math.floor(800 / Math.max(picture.width, picture.height)));
    canvas.width = picture.width * scale; canvas.height = picture.height * scale;
    const context = canvas.getContext("2d");
    context.imageSmoothingEnabled = false;
    context.drawImage(picture, 0, 0, canvas.width, canvas.height);
    context.strokeStyle = "rgba(255, 0, 255, 0.7)";
    context.lineWidth = Math.max(1, Math.round(scale / 3));  // about a pixel once the card shows it smaller
    context.beginPath();
    for (const x of result.lines_x) { context.moveTo(x * scale, 0); context.lineTo(x * scale, canvas.height); }
    for (const y of result.lines_y) { context.moveTo(0, y * scale); context.lineTo(canvas.width, y * scale); }
    context.stroke();
  };
  picture.src = source;
}

loadRuns().catch(() => { /* already shown in the page */ });
