// Photos (docs/web.md): a BlurHash placeholder painted behind each image until it has loaded, and
// the carousel of a post of several items. The pages work without this file: the placeholder
// canvas stays blank, and the carousel scrolls and snaps by CSS alone.

// the pinned decoder (npm blurhash), preloaded by the page at its content-addressed URL
const decoderUrl = document.querySelector('link[rel="modulepreload"][data-module="blurhash"]')?.href;
let decoder = null;
const seen = new WeakSet();
const smooth = () => (matchMedia("(prefers-reduced-motion: reduce)").matches ? "auto" : "smooth");

function placeholder(canvas) {
  const figure = canvas.closest("figure");
  const img = figure?.querySelector("img");
  if (!img) return;
  const loaded = () => figure.classList.add("loaded");
  if (img.complete && img.naturalWidth > 0) return loaded();
  img.addEventListener("load", loaded, { once: true }); // a failed image keeps its placeholder
  decoder ??= import(decoderUrl).then((module) => module.decode);
  decoder.then((decode) => {
    if (figure.classList.contains("loaded")) return;
    const { width, height } = canvas;
    const context = canvas.getContext("2d");
    const pixels = context.createImageData(width, height);
    pixels.data.set(decode(canvas.dataset.blurhash, width, height));
    context.putImageData(pixels, 0, 0);
    canvas.classList.add("painted");
  }).catch(() => {}); // a hash the decoder refuses: the plain background stays
}

function carousel(root) {
  const track = root.querySelector(".slides");
  const slides = [...track.children];
  const [prev, next] = [root.querySelector(".prev"), root.querySelector(".next")];
  const dots = [...root.querySelectorAll(".dot")];
  const status = root.querySelector(".carousel-status");
  let current = -1;
  let wanted = null; // the item a button or key asked for, until the scroll reaches it

  const show = (index) => {
    if (index === current) return;
    current = index;
    dots.forEach((dot, i) => dot.classList.toggle("current", i === index));
    // keep focus on a button the end disables (a disabled button drops it)
    if (document.activeElement === prev && index === 0) next.focus();
    if (document.activeElement === next && index === slides.length - 1) prev.focus();
    prev.disabled = index === 0;
    next.disabled = index === slides.length - 1;
    const kind = slides[index].dataset.kind === "video" ? "Video" : "Photo";
    status.textContent = `${kind} ${index + 1} of ${slides.length}`;
  };
  const at = () => Math.round(track.scrollLeft / Math.max(track.clientWidth, 1));
  const go = (index) => {
    const to = Math.max(0, Math.min(slides.length - 1, index));
    wanted = to;
    track.scrollTo({ left: to * track.clientWidth, behavior: smooth() });
  };

  // from the item on its way, so quick presses move one item each
  prev.addEventListener("click", () => go((wanted ?? current) - 1));
  next.addEventListener("click", () => go((wanted ?? current) + 1));
  root.addEventListener("keydown", (event) => {
    if (event.key !== "ArrowLeft" && event.key !== "ArrowRight") return;
    if (event.target.closest("input, select")) return; // a video's seek bar and quality keep their keys
    event.preventDefault(); // one item per press, not the browser's few pixels
    go((wanted ?? current) + (event.key === "ArrowRight" ? 1 : -1));
  });
  let frame = 0;
  track.addEventListener("scroll", () => {
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(() => {
      show(at());
      if (wanted === current && Math.abs(track.scrollLeft - wanted * track.clientWidth) < 2) wanted = null;
    });
  }, { passive: true });

  // a new width (a phone turned, a window resized): the browser snaps back to the item shown, but
  // a smooth scroll on its way would go on to its old offset; send it to the item asked for instead
  new ResizeObserver(() => {
    if (wanted !== null) track.scrollTo({ left: wanted * track.clientWidth, behavior: "instant" });
  }).observe(track);

  prev.hidden = next.hidden = false;
  root.querySelector(".dots").hidden = false;
  root.classList.add("enhanced");
  show(at());
}

function enhance(root) {
  if (!root.querySelectorAll) return;
  for (const canvas of root.querySelectorAll("canvas.blurhash")) {
    if (!seen.has(canvas)) seen.add(canvas), placeholder(canvas);
  }
  for (const element of root.querySelectorAll(".carousel")) {
    if (!seen.has(element)) seen.add(element), carousel(element);
  }
}

enhance(document);
// posts htmx brings in later ("More posts", the new posts bar)
document.body.addEventListener("htmx:load", (event) => enhance(event.detail.elt));
