// Durations that move: every <time class="tick" data-since="ISO"> without data-until shows the
// time since `since`, recounted every second, and the open phase of a run's timeline
// (.phases .phase[data-since]) grows with it. The server's clock is the reference: pages carry
// the time they were rendered (data-server-now), and run.js hands over each event's timestamp.
// Each is a lower bound of the server's time when it arrives, so the largest offset wins.
(function () {
  "use strict";
  let skew = 0;  // the server's clock minus this browser's, in ms
  let known = false;

  function learn(serverIso) {
    const t = Date.parse(serverIso);
    if (Number.isNaN(t)) return;
    const offset = t - Date.now();
    if (!known || offset > skew) {
      skew = offset;
      known = true;
    }
  }

  const now = () => Date.now() + skew;

  // Whole seconds while counting: 7s, 1m05s, 2h03m (the server's final figures keep tenths).
  function format(secs) {
    secs = Math.max(0, secs);
    if (secs < 60) return `${Math.floor(secs)}s`;
    const m = Math.floor(secs / 60);
    const s = Math.floor(secs % 60);
    if (m < 60) return `${m}m${String(s).padStart(2, "0")}s`;
    return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
  }

  function sizePhases(bar, t) {
    const items = Array.from(bar.querySelectorAll(".phase"), (li) => {
      let secs = Number(li.dataset.seconds) || 0;
      if (li.dataset.since) {
        secs = Math.max(secs, (t - Date.parse(li.dataset.since)) / 1000);
        const label = li.querySelector(".phase-time");
        if (label) label.textContent = format(secs);
      }
      return [li, secs];
    });
    const total = items.reduce((sum, [, secs]) => sum + secs, 0) || 1;
    // Shares that add up to 1, so the whole row is filled (flex-grow below 1 in all leaves
    // space). Set through the CSSOM: the Content-Security-Policy allows no style="" attribute.
    for (const [li, secs] of items) li.style.flexGrow = String(Math.max(secs / total, 0.01));
  }

  function tick(root) {
    const scope = root || document;
    const t = now();
    for (const el of scope.querySelectorAll("time.tick[data-since]:not([data-until])")) {
      const since = Date.parse(el.dataset.since);
      if (!Number.isNaN(since)) el.textContent = format((t - since) / 1000);
    }
    for (const bar of scope.querySelectorAll(".phases")) sizePhases(bar, t);
  }

  document.querySelectorAll("[data-server-now]").forEach((el) => learn(el.dataset.serverNow));
  tick();
  setInterval(tick, 1000);
  window.CrowNestClock = { learn, now, format, tick };
})();
