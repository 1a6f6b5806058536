// Runs list: re-fetch the table fragment while any shown run can still change, so statuses,
// durations and exit codes move without a reload; slower once every row is in a final state.
// Between fetches the running rows' durations count on by themselves (clock.js).
(function () {
  "use strict";
  const box = document.getElementById("runs-table");
  if (!box) return;
  const FINAL = new Set(["succeeded", "failed", "canceled"]);
  const url = box.dataset.fragmentUrl;
  const clock = window.CrowNestClock;

  function anyLive() {
    return Array.from(box.querySelectorAll("tr[data-status]")).some(
      (row) => !FINAL.has(row.dataset.status),
    );
  }

  async function refresh() {
    const live = anyLive();
    if (document.visibilityState === "visible") {
      try {
        const resp = await fetch(url, { credentials: "same-origin" });
        if (resp.ok) {
          box.innerHTML = await resp.text();
          const table = box.querySelector("[data-server-now]");
          if (table) clock.learn(table.dataset.serverNow);
          clock.tick(box);
        }
      } catch (err) {
        // A dropped connection only delays the next refresh.
      }
    }
    setTimeout(refresh, live ? 3000 : 10000);
  }
  setTimeout(refresh, 3000);
})();
