// The settings pages: a Copy button beside a new API token (docs/web.md, "Settings"). Without
// JavaScript the button stays hidden and the token can be selected and copied by hand.

const button = document.getElementById("copy-secret");
const field = button && document.getElementById(button.dataset.copy);

if (button && field) {
  button.hidden = false;
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(field.value);
      button.textContent = "Copied";
    } catch {
      // no clipboard access (an http origin, a refused permission): select it for Ctrl+C / ⌘C
      field.focus();
      field.select();
      button.textContent = "Press Ctrl+C";
    }
  });
  // the heading first, so a screen reader says what happened before reading the token
  document.getElementById("issued-title")?.focus();
}
