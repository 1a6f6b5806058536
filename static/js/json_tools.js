// Copy and download buttons for the JSON shown on a page: <button data-copy="ID"> copies the
// text of the element ID; <button data-download="ID" data-filename="x.json"> saves it as a file.
(function () {
  "use strict";

  function say(button, text) {
    const note = button.parentElement && button.parentElement.querySelector(".copy-note");
    if (note) note.textContent = text;
  }

  async function copy(button, text) {
    try {
      await navigator.clipboard.writeText(text);
      say(button, "Copied.");
    } catch (err) {
      // No clipboard permission (an http:// page, a locked-down browser): select the text
      // instead, so that Ctrl+C takes it.
      const range = document.createRange();
      range.selectNodeContents(document.getElementById(button.dataset.copy));
      const sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      say(button, "Selected: press Ctrl+C to copy.");
    }
  }

  function download(button, text) {
    const url = URL.createObjectURL(new Blob([text], { type: "application/json" }));
    const a = document.createElement("a");
    a.href = url;
    a.download = button.dataset.filename || "data.json";
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  document.addEventListener("click", (e) => {
    const button = e.target.closest("button[data-copy], button[data-download]");
    if (!button) return;
    const id = button.dataset.copy || button.dataset.download;
    const source = document.getElementById(id);
    if (!source) return;
    if (button.dataset.copy) copy(button, source.textContent);
    else download(button, source.textContent);
  });
})();
