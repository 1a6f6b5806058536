// The run page: follows the run's events over the websocket (SSE when the websocket cannot
// connect), feeds the archive progress and the log view, keeps the clock right, refreshes the
// server-rendered parts (the header above the log, the panels below) when the run moves, and
// runs the header's buttons (start, cancel, re-run).
(function () {
  "use strict";
  const { call, describe } = window.CrowNest;
  const clock = window.CrowNestClock;
  const root = document.getElementById("run");
  const runId = root.dataset.runId;
  const $ = (id) => document.getElementById(id);
  const view = new window.CrowNestLogView($("log"));
  window.CrowNestRunLog = view;  // for scripts that measure the page (bench/stream_page.py)
  const progress = new window.CrowNestArchiveProgress($("archive-progress"));
  let lastSeq = 0;
  let ended = false;
  let commandSeen = false;
  let wsFailures = 0;
  let useSse = !("WebSocket" in window);
  let wanted = location.hash.match(/^#L(\d+)$/) ? Number(location.hash.slice(2)) : null;

  view.onFollowChange = (on) => { $("log-follow").checked = on; };
  $("log-follow").addEventListener("change", (e) => { if (e.target.checked) view.bottom(); else view.follow = false; });
  $("log-times").addEventListener("change", (e) => view.box.classList.toggle("show-ts", e.target.checked));

  let matchAt = 0;
  $("log-search").addEventListener("keydown", (e) => {
    if (e.key !== "Enter") return;
    e.preventDefault();
    const q = e.target.value;
    if (!q) { $("log-matches").textContent = ""; return; }
    const n = view.find(q, e.shiftKey ? Math.max(matchAt - 2, 0) : matchAt);
    if (n === null) { $("log-matches").textContent = "no match"; return; }
    matchAt = n;
    $("log-matches").textContent = `line ${n} · ${view.count(q)} matching lines`;
    view.scrollToLine(n);
  });
  window.addEventListener("hashchange", () => {
    const m = location.hash.match(/^#L(\d+)$/);
    if (m) view.scrollToLine(Number(m[1]));
  });

  function setState(text) { $("log-state").textContent = text; }

  function showError(text) {
    $("action-error").textContent = text;
    $("action-error").hidden = !text;
  }

  // One fetch answers both parts (and the empty log's words); each is swapped in place.
  let refreshing = null;
  async function refreshPanels() {
    if (refreshing) return refreshing;
    refreshing = (async () => {
      try {
        const resp = await fetch(root.dataset.panelsUrl, { credentials: "same-origin" });
        if (!resp.ok) return;
        const fresh = document.createElement("div");
        fresh.innerHTML = await resp.text();  // server-rendered, escaped by Django
        // Keep what the user is typing into the review form across the refresh.
        const typing = $("panels").querySelector(".review-form textarea");
        const draft = typing ? typing.value : "";
        const focused = typing && document.activeElement === typing;
        const opened = new Set(Array.from($("panels").querySelectorAll("details[open][id]"), (d) => d.id));
        $("run-head").replaceChildren(...fresh.querySelector("[data-part=run-head]").childNodes);
        $("panels").replaceChildren(...fresh.querySelector("[data-part=panels]").childNodes);
        $("log-empty").textContent = fresh.querySelector("[data-part=log-empty]").textContent;
        opened.forEach((id) => { const d = $(id); if (d) d.open = true; });
        const textarea = $("panels").querySelector(".review-form textarea");
        if (textarea && draft) textarea.value = draft;
        if (textarea && focused) textarea.focus();
        clock.tick(root);
        window.CrowNestEvidence.verifyIn($("panels"));
      } finally {
        refreshing = null;
      }
    })();
    return refreshing;
  }

  // The bundle is written just after the terminal event: look again until it is there.
  async function awaitEvidence(tries) {
    await refreshPanels();
    const ev = $("evidence");
    if (tries > 0 && !(ev && ev.dataset.ready)) setTimeout(() => awaitEvidence(tries - 1), 1000);
  }

  function onEvent(ev) {
    if (ev.seq <= lastSeq) return;  // a replay after reconnecting
    lastSeq = ev.seq;
    clock.learn(ev.timestamp);
    const d = ev.data || {};
    if (ev.type === "archive_progress") progress.update(ev);
    else if (ev.type !== "status") {
      progress.finish();
      if (!commandSeen && root.dataset.status === "running") refreshPanels();  // the command's start
      commandSeen = true;
    }
    if (ev.type === "stdout" || ev.type === "stderr") view.append(ev.type, d.text || "", ev.timestamp);
    else if (ev.type === "status") { root.dataset.status = d.status; refreshPanels(); }
    else if (ev.type === "error") view.note(`[${d.code}] ${d.message}`, "meta err");
    else if (ev.type === "artifact_error") view.note(`artifact ${d.path}: ${d.message}`, "meta err");
    else if (ev.type === "artifact_collected") view.note(`artifact ${d.path} (${d.sizeBytes} bytes)`, "meta");
    else if (ev.type === "terminal") {
      ended = true;
      root.dataset.status = d.status;
      const duration = $("duration");
      if (duration) duration.dataset.until = ev.timestamp;  // stop counting at once
      view.note(`run ${d.status}${d.exitCode !== null && d.exitCode !== undefined ? ", exit code " + d.exitCode : ""}`, "meta");
      setState("ended");
      awaitEvidence(30);
    }
    $("log-count").textContent = view.lines.length ? `${view.lines.length} lines` : "";
    $("log-empty").hidden = view.lines.length > 0;
    if (wanted && view.lines.length >= wanted) { view.scrollToLine(wanted); wanted = null; }
  }

  function reconnect() {
    if (ended) return;
    setState("reconnecting…");
    setTimeout(connect, Math.min(500 * 2 ** wsFailures, 10000));
  }

  function connectSse() {
    const src = new EventSource(`/api/v1/workspace-runs/${runId}/events/stream?afterSeq=${lastSeq}`);
    src.onopen = () => setState("live (SSE)");
    const handler = (m) => onEvent(JSON.parse(m.data));
    ["status", "archive_progress", "stdout", "stderr", "artifact_collected", "artifact_error",
      "heartbeat", "error", "terminal"].forEach((t) => src.addEventListener(t, handler));
    src.onerror = () => {
      src.close();
      wsFailures++;
      reconnect();
    };
  }

  function connect() {
    if (useSse) return connectSse();
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${proto}://${location.host}/ws/workspace-runs/${runId}/events?afterSeq=${lastSeq}`);
    let opened = false;
    ws.onopen = () => { opened = true; wsFailures = 0; setState("live"); };
    ws.onmessage = (m) => onEvent(JSON.parse(m.data));
    ws.onclose = () => {
      if (!opened) { wsFailures++; if (wsFailures >= 2) useSse = true; }
      reconnect();
    };
  }

  const base = `/api/v1/workspace-runs/${runId}`;
  const ACTIONS = {
    async cancel() {
      if (!window.confirm("Cancel this run? The command is stopped and the sandbox removed.")) return false;
      await call("POST", `${base}/cancel`);
      await refreshPanels();
      return true;
    },
    async start() {
      await call("POST", `${base}/start`);
      await refreshPanels();
      return true;
    },
    // The same command on the same stored archive, as a new run; started at once when ready.
    async rerun() {
      const run = await call("POST", `${base}/rerun`);
      try {
        if (run.status === "ready") await call("POST", `/api/v1/workspace-runs/${run.id}/start`);
      } finally {
        window.location.assign(`/runs/${run.id}`);  // its page offers Start if that failed
      }
      return true;
    },
  };

  root.addEventListener("click", async (e) => {
    const button = e.target.closest("button[id]");
    if (!button || !ACTIONS[button.id]) return;
    button.disabled = true;
    showError("");
    try {
      if (!(await ACTIONS[button.id]())) button.disabled = false;
    } catch (err) {
      showError(describe(err));
      button.disabled = false;
    }
  });

  window.CrowNestEvidence.verifyIn($("panels"));
  connect();
})();
