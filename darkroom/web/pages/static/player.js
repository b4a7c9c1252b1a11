// A video post's player (templates/_video.html, docs/web.md). app.js imports this module only when
// a video is on the page, and this module imports hls.js only when a video comes into view.
//
// - The HLS package plays through hls.js wherever the browser has Media Source Extensions, and
//   through the browser's own HLS otherwise: Debian's Chromium answers "maybe" to HLS in
//   canPlayType but cannot play it, so the native answer is asked second.
// - The poster shows first, in a box of its size. A video at least 60 % in view plays muted (not
//   with prefers-reduced-motion) and pauses out of view; once its viewer paused it, it waits for them.
// - A click on the video turns the sound on (or pauses it when it already has sound); the bar has
//   play, a seek bar, the time, sound and, with hls.js, the quality (its levels and Auto).
// - Pointing at the seek bar, or moving it, shows the storyboard's thumbnail of that time (the
//   WebVTT track's `sheet.jpg#xywh=x,y,w,h` cues, resolved against the track's URL, so a signed
//   URL's signature carries over to the sheets as it does to hls.js's segments).
// No inline style: sizes and positions go through the CSSOM, which the CSP allows.

const HLS_TYPE = "application/vnd.apple.mpegurl";
const IN_VIEW = 0.6;
const reducedMotion = matchMedia("(prefers-reduced-motion: reduce)");
const players = new WeakMap();
let hlsClass; // one import of hls.js for every player of the page

const watcher = new IntersectionObserver(
  (entries) => {
    for (const entry of entries) {
      // a carousel's next slide touches the one shown: edge-adjacent is "intersecting" with a ratio
      // of 0, so only a visible part loads the engine (never the slides out of view)
      const showing = entry.isIntersecting && entry.intersectionRatio > 0;
      players.get(entry.target)?.seen(showing, entry.intersectionRatio >= IN_VIEW);
    }
  },
  { threshold: [0, IN_VIEW] },
);

/** Take over every video figure under `root` not taken over yet. */
export function attachAll(root = document) {
  for (const figure of root.querySelectorAll("figure[data-player]:not([data-engine])")) {
    players.set(figure, new Player(figure));
    watcher.observe(figure);
  }
}

class Player {
  constructor(figure) {
    this.figure = figure;
    this.video = figure.querySelector("video");
    this.source = this.video.querySelector("source");
    this.bar = figure.querySelector(".player-bar");
    this.playButton = figure.querySelector(".player-play");
    this.soundButton = figure.querySelector(".player-sound");
    this.seek = figure.querySelector(".player-seek");
    this.now = figure.querySelector(".player-now");
    this.quality = figure.querySelector(".player-quality");
    this.thumb = figure.querySelector(".player-thumb");
    this.thumbTime = figure.querySelector(".player-thumb-time");
    this.userPaused = false;
    this.pointing = false;
    figure.dataset.engine = "pending";
    this.video.controls = false;
    this.bar.hidden = false;
    this.#wire();
  }

  #wire() {
    const { video, seek } = this;
    video.addEventListener("click", () => {
      if (video.muted) {
        video.muted = false;
        this.play(true);
      } else if (video.paused) this.play(true);
      else this.pause(true);
    });
    this.playButton.addEventListener("click", () => (video.paused ? this.play(true) : this.pause(true)));
    this.soundButton.addEventListener("click", () => (video.muted = !video.muted));
    video.addEventListener("play", () => this.#playing(true));
    video.addEventListener("pause", () => this.#playing(false));
    video.addEventListener("volumechange", () => this.soundButton.setAttribute("aria-pressed", String(!video.muted)));
    video.addEventListener("durationchange", () => {
      if (Number.isFinite(video.duration) && video.duration > 0) seek.max = String(video.duration);
    });
    video.addEventListener("timeupdate", () => {
      if (!this.scrubbing) seek.value = String(video.currentTime);
      this.#time(video.currentTime);
    });
    seek.addEventListener("input", () => {
      this.scrubbing = true;
      this.start();
      video.currentTime = Number(seek.value);
      this.#time(Number(seek.value));
      this.#preview(Number(seek.value));
    });
    seek.addEventListener("change", () => (this.scrubbing = false));
    seek.addEventListener("pointermove", (event) => {
      this.pointing = true;
      this.#preview(this.#timeAt(event.clientX));
    });
    seek.addEventListener("pointerleave", () => {
      this.pointing = false;
      this.#hidePreview();
    });
    seek.addEventListener("blur", () => this.#hidePreview());
    this.quality.addEventListener("change", () => {
      if (this.hls) this.hls.currentLevel = Number(this.quality.value); // -1: Auto
    });
  }

  /** Called by the IntersectionObserver: load once any of it shows, play while mostly in view. */
  seen(showing, inView) {
    this.inView = inView;
    if (showing && !reducedMotion.matches) this.start();
    if (inView && !this.userPaused && !reducedMotion.matches && this.video.paused) this.play(false);
    else if (!inView && !this.video.paused) this.pause(false);
  }

  /** Attach the engine once: hls.js (MSE), else native HLS, else say it cannot play here. */
  start() {
    this.starting ??= this.#start().catch((error) => this.#fail(error));
    return this.starting;
  }

  async #start() {
    if ("MediaSource" in window || "ManagedMediaSource" in window) {
      hlsClass ??= import(this.figure.dataset.hlsModule).then((module) => module.default);
      const Hls = await hlsClass;
      if (Hls.isSupported()) return this.#withHls(Hls);
    }
    if (this.video.canPlayType(HLS_TYPE)) {
      this.figure.dataset.engine = "native"; // the browser picks the quality itself
      this.video.preload = "auto";
      this.video.load();
      return;
    }
    throw new Error("this browser plays neither HLS nor Media Source Extensions");
  }

  #withHls(Hls) {
    const src = this.source.getAttribute("src");
    this.source.remove(); // the media element's source is hls.js's MediaSource (a blob: URL) now
    this.video.preload = "auto"; // with "none", a MediaSource may not open before play()
    // No worker: the ES module build has none to start (it would need workerPath and worker-src),
    // and the package's fMP4 segments need no transmuxing, only a pass through on this thread.
    const hls = new Hls({ enableWorker: false, capLevelToPlayerSize: true });
    this.hls = hls;
    hls.on(Hls.Events.MANIFEST_PARSED, () => this.#levels(hls));
    hls.on(Hls.Events.LEVEL_SWITCHED, (_, data) => this.#switched(hls, data.level));
    hls.on(Hls.Events.ERROR, (_, data) => {
      if (!data.fatal) return; // hls.js retries those itself
      if (data.type === Hls.ErrorTypes.MEDIA_ERROR && !this.recovered) {
        this.recovered = true;
        hls.recoverMediaError();
        return;
      }
      hls.destroy();
      this.#fail(new Error(data.details));
    });
    hls.loadSource(src);
    hls.attachMedia(this.video);
    this.figure.dataset.engine = "hls.js";
  }

  #levels(hls) {
    const byHeight = [...hls.levels.entries()].sort(([, a], [, b]) => b.height - a.height || b.bitrate - a.bitrate);
    for (const [index, level] of byHeight) {
      const option = document.createElement("option");
      option.value = String(index);
      option.textContent = `${level.height}p`;
      this.quality.append(option);
    }
    this.quality.hidden = hls.levels.length < 2;
    this.figure.dataset.levels = byHeight.map(([, level]) => level.height).join(" ");
  }

  #switched(hls, index) {
    const level = hls.levels[index];
    if (!level) return;
    this.figure.dataset.level = String(level.height);
    this.quality.options[0].textContent = hls.autoLevelEnabled ? `Auto (${level.height}p)` : "Auto";
  }

  async play(byUser) {
    if (byUser) this.userPaused = false;
    await this.start();
    if (!byUser && (!this.inView || this.userPaused)) return; // scrolled away, or paused, while hls.js loaded
    try {
      await this.video.play();
    } catch (error) {
      // Sound without a gesture first is refused: play muted instead. An AbortError is a pause()
      // that came first (scrolled away), nothing to do.
      if (error.name === "NotAllowedError" && !this.video.muted) {
        this.video.muted = true;
        await this.video.play().catch(() => {});
      }
    }
  }

  pause(byUser) {
    if (byUser) this.userPaused = true;
    this.video.pause();
  }

  #playing(on) {
    if (on) this.figure.dataset.playing = "";
    else delete this.figure.dataset.playing;
    this.playButton.setAttribute("aria-label", on ? "Pause" : "Play");
  }

  #time(seconds) {
    const text = clock(seconds);
    this.now.textContent = text;
    this.seek.setAttribute("aria-valuetext", `${text} of ${clock(Number(this.seek.max))}`);
  }

  #timeAt(clientX) {
    const box = this.seek.getBoundingClientRect();
    const fraction = Math.min(1, Math.max(0, (clientX - box.left) / box.width));
    return fraction * Number(this.seek.max);
  }

  async #preview(seconds) {
    const cues = await this.#cues();
    if (!cues.length || (!this.pointing && document.activeElement !== this.seek)) return;
    const cue = cues.find((c) => seconds >= c.start && seconds < c.end) ?? cues[cues.length - 1];
    const { thumb } = this;
    thumb.style.width = `${cue.w}px`;
    thumb.style.height = `${cue.h}px`;
    thumb.style.backgroundImage = `url("${cue.sheet}")`;
    thumb.style.backgroundPosition = `${-cue.x}px ${-cue.y}px`;
    // centred over the time pointed at, kept inside the video
    const figure = this.figure.getBoundingClientRect();
    const track = thumb.parentElement.getBoundingClientRect();
    const seek = this.seek.getBoundingClientRect();
    const max = Number(this.seek.max);
    const atX = seek.left - figure.left + (max > 0 ? seconds / max : 0) * seek.width;
    const half = cue.w / 2 + 4;
    const centre = Math.min(Math.max(atX, half), Math.max(half, figure.width - half));
    thumb.style.left = `${centre - (track.left - figure.left)}px`;
    this.thumbTime.textContent = clock(seconds);
    thumb.dataset.sheet = cue.sheet;
    thumb.hidden = false;
  }

  #hidePreview() {
    this.thumb.hidden = true;
  }

  #cues() {
    const url = this.figure.dataset.storyboard;
    if (!url) return Promise.resolve([]);
    this.cueList ??= fetch(url, { credentials: "same-origin" })
      .then((answer) => (answer.ok ? answer.text() : ""))
      .then((text) => parseVtt(text, new URL(url, location.href)))
      .catch(() => []);
    return this.cueList;
  }

  #fail(error) {
    this.figure.dataset.engine = "failed";
    this.figure.dataset.error = String(error?.message ?? error);
    this.bar.hidden = true;
    if (this.video.contains(this.source)) this.video.controls = true; // the browser's own try, as without script
    const badge = this.figure.querySelector(".badge-video");
    if (badge) badge.textContent = "This video cannot play here";
  }
}

/** The storyboard's cues: `start --> end` then `sheet.jpg#xywh=x,y,w,h`, the sheet resolved against `base`. */
function parseVtt(text, base) {
  const cues = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length - 1; i++) {
    const timing = /^(\S+)\s+-->\s+(\S+)/.exec(lines[i]);
    const [file, fragment] = lines[i + 1].trim().split("#xywh=");
    if (!timing || !fragment) continue;
    const [x, y, w, h] = fragment.split(",").map(Number);
    if ([x, y, w, h].some((n) => !Number.isFinite(n))) continue;
    cues.push({ start: seconds(timing[1]), end: seconds(timing[2]), sheet: new URL(file, base).href, x, y, w, h });
  }
  return cues;
}

function seconds(stamp) {
  return stamp.split(":").reduce((total, part) => total * 60 + Number(part), 0);
}

/** `m:ss`, or `h:mm:ss` from an hour (post_views.clock's format). */
function clock(value) {
  const whole = Math.max(0, Math.floor(Number.isFinite(value) ? value : 0));
  const [h, m, s] = [Math.floor(whole / 3600), Math.floor((whole % 3600) / 60), whole % 60];
  const mm = h ? String(m).padStart(2, "0") : String(m);
  return `${h ? `${h}:` : ""}${mm}:${String(s).padStart(2, "0")}`;
}
