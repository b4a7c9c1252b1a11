// The feed's "new posts" bar (docs/web.md): while the page is visible, ask every data-poll-ms how
// many posts arrived above the newest one shown (GET /feed/new, one Redis read on the server) and
// show the bar it answers. The bar floats: nothing the person reads moves until they press it.
// A "darkroom:poll" event on the document asks at once (a tab coming back, the browser tests).

const slot = () => document.getElementById("new-posts");
let asking = false;

async function poll() {
  const here = slot();
  if (!here || asking || document.visibilityState !== "visible") return;
  asking = true;
  try {
    const answer = await fetch(here.dataset.pollUrl, { headers: { "HX-Request": "true" } });
    if (!answer.ok) return;
    const html = await answer.text();
    // replaced meanwhile (the new posts were loaded), or the same bar: no swap, no re-announcement
    if (slot() !== here || here.dataset.shown === html) return;
    here.dataset.shown = html;
    here.innerHTML = html;
    window.htmx?.process(here);
  } catch {
    // offline for a moment: the next poll asks again
  } finally {
    asking = false;
  }
}

if (slot()) {
  setInterval(poll, Number(slot().dataset.pollMs) || 30000);
  document.addEventListener("visibilitychange", poll);
  document.addEventListener("darkroom:poll", poll);
}
