// The compose page (docs/web.md, "Compose"): up to 10 photos and videos, picked or dropped, each
// uploaded with its own progress bar (photos: POST /v1/uploads; videos: tus, resumable), then the
// post, then its processing state from the uploads' server-sent events until ready or failed.
// No inline script anywhere: the Content-Security-Policy allows scripts from this origin only.

const $ = (id) => document.getElementById(id);
const form = $("compose");
const input = $("files");
const picked = $("picked");
const caption = $("caption");
const counter = $("caption-count");
const share = $("share");
const status = { box: $("status"), title: $("status-title"), text: $("status-text"), files: $("status-files"),
  error: $("status-error"), retry: $("retry"), done: $("status-done") };
const maxFiles = Number(form.dataset.maxFiles);
const maxCaption = Number(counter.dataset.max);
const limits = { photo: Number(form.dataset.maxPhotoBytes), video: Number(form.dataset.maxVideoBytes) };
const number = new Intl.NumberFormat("en");
// tus: chunks small enough that a dropped connection loses little, few enough for the rate limit
const TUS_CHUNK_BYTES = 32 << 20;
let items = []; // {file, url, li, bar, pct, remove, uploadId}
let postId = null;

const isVideo = (file) => file.type.startsWith("video/");
const viaTus = (file) => isVideo(file) || file.size > limits.photo;
const chars = () => [...caption.value].length; // code points, as the server counts
const megabytes = (n) => `${number.format(Math.round(n / 1048576))} MB`;

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function say(text) {
  const box = $("compose-error");
  box.textContent = text;
  box.hidden = !text;
}

// The session's CSRF token, for the API's cookie-authenticated writes (X-CSRF-Token).
function csrf() {
  const cookie = document.cookie.split("; ").find((c) => c.startsWith("darkroom_csrf="));
  return cookie ? decodeURIComponent(cookie.slice("darkroom_csrf=".length))
    : document.querySelector('meta[name="csrf-token"]')?.content ?? "";
}

function add(files) {
  say("");
  for (const file of files) {
    if (items.length >= maxFiles) { say(`A post holds at most ${maxFiles} photos and videos: ${file.name} was left out.`); break; }
    if (file.type && !/^(image|video)\//.test(file.type)) { say(`${file.name} is not a photo or a video.`); continue; }
    const limit = isVideo(file) ? limits.video : Math.max(limits.photo, limits.video);
    if (file.size > limit) { say(`${file.name} is ${megabytes(file.size)}, over the ${megabytes(limit)} limit.`); continue; }
    items.push(itemFor(file));
  }
  input.value = "";
}

function itemFor(file) {
  const item = { file, url: URL.createObjectURL(file), li: el("li", "item"), uploadId: null };
  const preview = el(isVideo(file) ? "video" : "img", "preview");
  if (isVideo(file)) {
    preview.muted = true;
    preview.preload = "metadata";
    preview.setAttribute("aria-label", `Video ${file.name}`);
  } else {
    preview.alt = `Preview of ${file.name}`;
  }
  preview.src = item.url;
  item.bar = el("progress");
  item.bar.max = 100;
  item.bar.value = 0;
  item.bar.setAttribute("aria-label", `Upload of ${file.name}`);
  item.pct = el("span", "pct");
  item.remove = el("button", "remove", "Remove");
  item.remove.type = "button";
  item.remove.setAttribute("aria-label", `Remove ${file.name}`);
  item.remove.addEventListener("click", () => {
    items = items.filter((other) => other !== item);
    URL.revokeObjectURL(item.url);
    item.li.remove();
    input.focus();
  });
  item.li.append(preview, el("span", "name", file.name), item.bar, item.pct, item.remove);
  picked.append(item.li);
  return item;
}

function progress(item, sent, total) {
  const percent = total > 0 ? Math.floor((sent * 100) / total) : 0;
  item.bar.value = percent;
  item.pct.textContent = `${percent} %`;
}

function count() {
  const n = chars();
  counter.textContent = `${number.format(n)} / ${number.format(maxCaption)}`
    + (n > maxCaption ? `: ${number.format(n - maxCaption)} too many` : "");
  counter.classList.toggle("over", n > maxCaption);
  caption.setAttribute("aria-invalid", String(n > maxCaption));
}

// The reason of a problem+json answer (the API names the offending value), else the status.
function reason(body, code) {
  try {
    const problem = typeof body === "string" ? JSON.parse(body) : body;
    if (problem?.detail) return problem.detail;
  } catch { /* not JSON: say the status */ }
  return code ? `refused (${code})` : "the connection failed";
}

function sendForm(file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/v1/uploads");
    xhr.setRequestHeader("X-CSRF-Token", csrf());
    xhr.responseType = "json";
    xhr.upload.addEventListener("progress", (e) => onProgress(e.loaded, e.total));
    xhr.addEventListener("load", () => {
      if (xhr.status === 202) resolve(xhr.response.id);
      else reject(new Error(`${file.name}: ${reason(xhr.response, xhr.status)}`));
    });
    xhr.addEventListener("error", () => reject(new Error(`${file.name}: the connection failed`)));
    const body = new FormData();
    body.append("file", file, file.name);
    xhr.send(body);
  });
}

function sendTus(file, onProgress) {
  return new Promise((resolve, reject) => {
    const upload = new globalThis.tus.Upload(file, {
      endpoint: "/v1/uploads/tus",
      chunkSize: TUS_CHUNK_BYTES,
      retryDelays: [0, 1000, 3000, 5000, 10000, 20000, 30000],
      metadata: { filename: file.name },
      headers: { "X-CSRF-Token": csrf() },
      removeFingerprintOnSuccess: true,
      onProgress,
      onError: (err) => {
        const answer = err.originalResponse;
        reject(new Error(`${file.name}: ${answer ? reason(answer.getBody(), answer.getStatus()) : err.message}`));
      },
      onSuccess: () => resolve(upload.url.split("/").pop()),
    });
    // the same file picked again after a reload carries on where the server stopped
    upload.findPreviousUploads().then((previous) => {
      if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
      upload.start();
    });
  });
}

async function upload(item) {
  if (item.uploadId) return item.uploadId; // sent before a later file failed: not again
  const send = viaTus(item.file) ? sendTus : sendForm;
  try {
    item.uploadId = await send(item.file, (sent, total) => progress(item, sent, total));
  } catch (err) {
    item.pct.textContent = "failed";
    throw err;
  }
  progress(item, 1, 1);
  return item.uploadId;
}

async function api(method, url, body) {
  const answer = await fetch(url, {
    method,
    headers: { Accept: "application/json", "Content-Type": "application/json", "X-CSRF-Token": csrf() },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = answer.status === 204 ? null : await answer.json().catch(() => null);
  if (!answer.ok) throw new Error(reason(data, answer.status));
  return data;
}

function lock(busy) {
  for (const control of [share, input, ...items.map((item) => item.remove)]) control.disabled = busy;
  caption.readOnly = busy;
  share.textContent = busy ? "Sharing…" : "Share";
}

async function send() {
  if (!items.length) return say("Choose at least one photo or video.");
  if (chars() > maxCaption) return say(`The caption is ${number.format(chars() - maxCaption)} characters too long.`);
  say("");
  lock(true);
  try {
    const sent = await Promise.allSettled(items.map(upload));
    const failed = sent.find((result) => result.status === "rejected");
    if (failed) throw failed.reason;
    const post = await api("POST", "/v1/posts", { caption: caption.value, upload_ids: items.map((i) => i.uploadId) });
    follow(post);
  } catch (err) {
    say(err.message);
    lock(false);
  }
}

// What an upload's event says: what its workflow is doing ("encoding 42 %", "checking quality 80 %";
// "processing" between named steps) while it runs, then ready or why not.
function describe(upload) {
  if (upload.state === "processing") return `${upload.step || "processing"} ${Math.floor(upload.progress * 100)} %`;
  if (upload.state === "failed") return `failed: ${upload.error}`;
  return upload.state;
}

function follow(post) {
  postId = post.id;
  form.closest("section").hidden = true;
  status.box.hidden = false;
  status.error.hidden = status.retry.hidden = status.done.hidden = true;
  status.files.replaceChildren();
  status.title.focus();
  if (post.state !== "processing") return settle(post);
  status.text.textContent = "Processing your post…";
  let open = items.length;
  for (const item of items) {
    const line = el("li", "", `${item.file.name}: waiting`);
    status.files.append(line);
    const events = new EventSource(`/v1/uploads/${item.uploadId}/events`);
    events.addEventListener("upload", (e) => {
      const state = JSON.parse(e.data);
      line.textContent = `${item.file.name}: ${describe(state)}`;
      if (state.state === "ready" || state.state === "failed") {
        events.close();
        open -= 1;
        if (open === 0 || state.state === "failed") check(post.id);
      }
    });
    events.addEventListener("error", () => { if (events.readyState === EventSource.CLOSED) check(post.id); });
  }
}

// The post's own state once its uploads settled (it settles in the same transaction).
async function check(id) {
  if (id !== postId) return;
  try {
    const post = await api("GET", `/v1/posts/${id}?fields=id,state,error`);
    if (post.state === "processing") setTimeout(() => check(id), 2000); // another upload still going
    else settle(post);
  } catch (err) {
    status.error.textContent = err.message;
    status.error.hidden = false;
  }
}

function settle(post) {
  if (post.state === "ready") {
    status.text.textContent = "Ready: your post is in your feed.";
    status.done.hidden = false;
    for (const item of items) URL.revokeObjectURL(item.url);
    return;
  }
  status.text.textContent = "Your post could not be processed.";
  status.error.textContent = post.error;
  status.error.hidden = false;
  status.retry.hidden = false;
}

// Try again: the failed post goes, and its files are sent again as a new one.
status.retry.addEventListener("click", async () => {
  status.retry.hidden = true;
  await api("DELETE", `/v1/posts/${postId}`).catch(() => {}); // already gone is as good
  postId = null;
  for (const item of items) {
    item.uploadId = null;
    progress(item, 0, 1);
  }
  status.box.hidden = true;
  form.closest("section").hidden = false;
  share.focus();
  send();
});

input.addEventListener("change", () => add(input.files));
caption.addEventListener("input", count);
form.addEventListener("submit", (e) => {
  e.preventDefault();
  send();
});
// the whole form takes a drop; the dashed box shows where
for (const type of ["dragenter", "dragover"]) {
  form.addEventListener(type, (e) => {
    e.preventDefault();
    $("drop").classList.add("over");
  });
}
for (const type of ["dragleave", "drop"]) form.addEventListener(type, () => $("drop").classList.remove("over"));
form.addEventListener("drop", (e) => {
  e.preventDefault();
  if (!share.disabled) add(e.dataTransfer.files);
});
count();
