// The operator pages keep their numbers fresh: every 5 s, while the tab is visible, each
// [data-refresh] part asks htmx to fetch it again (hx-trigger="ops-refresh"); a hidden tab asks
// nothing, and one shown again refreshes at once. No inline script (CSP): this module is loaded
// by the operator pages only.
const EVERY_MS = 5000;

function refresh() {
  if (document.visibilityState !== "visible" || window.htmx === undefined) return;
  for (const part of document.querySelectorAll("[data-refresh]")) {
    window.htmx.trigger(part, "ops-refresh");
  }
}

setInterval(refresh, EVERY_MS);
document.addEventListener("visibilitychange", refresh);
