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
