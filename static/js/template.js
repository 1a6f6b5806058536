// The template page: while a version builds, re-fetch the server-rendered panel (status, phase,
// progress and log) every 1.5 s, keeping the log scrolled to its end if it was there.
(function () {
  "use strict";
  const root = document.getElementById("template");
  if (!root) return;

  async function refresh() {
    const resp = await fetch(root.dataset.panelUrl, { credentials: "same-origin" });
    if (!resp.ok) return;
    const fresh = document.createElement("div");
    fresh.innerHTML = await resp.text();  // server-rendered, escaped by Django
    const part = fresh.querySelector("[data-part=panel]");
    const log = document.getElementById("build-log");
    const atEnd = log && log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    document.getElementById("template-panel").replaceChildren(part);
    const fresher = document.getElementById("build-log");
    if (fresher && atEnd) fresher.scrollTop = fresher.scrollHeight;
    root.dataset.status = part.dataset.status;
  }

  function tick() {
    if (root.dataset.status !== "building") return;
    refresh().finally(() => setTimeout(tick, 1500));
  }
  const log = document.getElementById("build-log");
  if (log) log.scrollTop = log.scrollHeight;
  setTimeout(tick, 1500);
})();
