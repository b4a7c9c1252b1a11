// Darkroom's pages work without this file; it only improves what htmx does (docs/web.md).
// No inline script anywhere: the Content-Security-Policy allows scripts from this origin only.

const csrf = document.querySelector('meta[name="csrf-token"]')?.content;
const notice = document.getElementById("notice");

// Requests htmx makes outside a form (later slices: deletes, follows) carry the session's CSRF
// token in the header the server reads; forms carry it as a field already.
document.body.addEventListener("htmx:configRequest", (event) => {
  if (csrf) event.detail.headers["X-CSRF-Token"] = csrf;
});

// htmx swaps nothing on an error answer: say so in the live region instead of failing silently.
document.body.addEventListener("htmx:responseError", (event) => {
  const status = event.detail.xhr.status;
  say(status === 429 ? "Too many requests: wait a moment and try again." : `That did not work (${status}). Try again.`);
});
document.body.addEventListener("htmx:sendError", () => say("Cannot reach Darkroom. Check the connection."));

function say(text) {
  if (!notice) return;
  notice.textContent = text;
  notice.classList.add("shown");
  setTimeout(() => notice.classList.remove("shown"), 5000);
}

// The video player (player.js, and hls.js through it) is imported only when a post with a video
// is on the page, at load or in a feed page htmx appended: pages without videos never fetch it.
function players(root) {
  const figure = root.querySelector?.("figure[data-player]");
  if (!figure) return;
  import(figure.dataset.player)
    .then((player) => player.attachAll(document))
    .catch(() => say("The video player did not load. Reload the page to try again."));
}
players(document);
document.body.addEventListener("htmx:load", (event) => players(event.detail.elt));
