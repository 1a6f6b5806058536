// The new-run form: validate, hash, create the run, upload, start, then open the run page.
// A picked file is hashed at once and looked up (GET /api/v1/archives/{sha256}): when this
// user or one of their teams already stored it, the form says "already uploaded" and the run
// is created ready (uploadMethod "reused"), with nothing sent.
(function () {
  "use strict";
  const form = document.getElementById("new-run");
  const { bytes: human, call, describe } = window.CrowNest;
  const { meter, sha256File, upload } = window.CrowNestUpload;
  const $ = (id) => document.getElementById(id);
  const fileInput = $("archive");
  const drop = $("drop");

  function showError(text) {
    $("error").textContent = text;
    $("error").hidden = !text;
  }

  function report(p) {
    $("phase").textContent = p.phase;
    $("bar").value = p.percent;
    const rate = p.rate === null ? "" : ` · ${human(p.rate)}/s`;
    $("progress-text").textContent =
      `${human(p.done)} of ${human(p.total)} · ${p.percent.toFixed(1)}%${rate}`;
  }

  // The picked file's digest: {file, hashed (a promise of the sha256), onProgress, known}.
  // One hash per file: a submit during the lookup waits for it (and shows its progress).
  let digest = null;

  function showKnown(known) {
    $("archive-known").hidden = !known;
    form.dataset.archiveKnown = known ? "true" : "false";
    $("submit").textContent = known ? "Start (already uploaded)" : "Upload and start";
  }

  async function lookup(f) {
    const mine = { file: f, known: false, onProgress: () => {} };
    mine.hashed = sha256File(f, (done, total) => mine.onProgress(done, total));
    digest = mine;
    try {
      const sha256 = await mine.hashed;
      const answer = await call(
        "GET", `/api/v1/archives/${sha256}?sizeBytes=${encodeURIComponent(f.size)}`);
      mine.known = answer.known;
    } catch (err) {
      mine.known = false; // the upload path still works; the lookup only saves a transfer
    }
    if (digest === mine) showKnown(mine.known);
  }

  function chosen() {
    const f = fileInput.files[0];
    $("drop-text").textContent = f ? `${f.name} (${human(f.size)})` : "Drop a .tar.gz or .tgz here, or choose a file";
    showKnown(false);
    delete form.dataset.archiveKnown;
    digest = null;
    if (f && f.size > 0) lookup(f);
  }
  fileInput.addEventListener("change", chosen);
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer.files.length) { fileInput.files = e.dataTransfer.files; chosen(); }
  });

  // Only ready templates take runs; the line under the picker says what the chosen one holds.
  call("GET", "/api/v1/templates").then((all) => {
    const templates = all.filter((t) => t.status === undefined || t.status === "ready");
    const select = $("template");
    select.replaceChildren(...templates.map((t) => new Option(t.name, t.name)));
    const info = () => {
      const t = templates.find((x) => x.name === select.value);
      const box = $("template-info");
      box.replaceChildren();
      if (!t) return;
      const contains = [t.python && `Python ${t.python}`, t.node && `Node ${t.node}`];
      for (const [label, list] of [["pip", t.pipPackages], ["npm", t.npmPackages]]) {
        if (list && list.length) contains.push(`${label}: ${list.join(", ")}`);
      }
      const link = document.createElement("a");
      link.href = `/templates/${encodeURIComponent(t.name)}`;
      link.textContent = t.version ? `version ${t.version}` : "details";
      box.append(`${t.description} `, contains.filter(Boolean).join(" · "), " · ", link);
      box.title = t.imageDigest || "";
    };
    select.addEventListener("change", info);
    info();
  }).catch((err) => showError("Could not load templates: " + describe(err)));

  function parseEnv(text) {
    const env = {};
    for (const raw of text.split("\n")) {
      const line = raw.trim();
      if (!line || line.startsWith("#")) continue;
      const eq = line.indexOf("=");
      if (eq < 1) throw new Error(`Environment line "${line}" is not NAME=value.`);
      env[line.slice(0, eq).trim()] = line.slice(eq + 1);
    }
    return env;
  }

  $("network").addEventListener("change", () => {
    $("replay-of-label").hidden = $("network").value !== "replay";
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    showError("");
    const file = fileInput.files[0];
    if (!file) return showError("Choose a .tar.gz or .tgz archive.");
    if (!/\.(tar\.gz|tgz)$/i.test(file.name)) {
      return showError("Only gzip-compressed tar archives (.tar.gz, .tgz) are accepted.");
    }
    if (!$("command").value.trim()) return showError("Enter a command.");
    let body;
    try {
      body = {
        template: $("template").value,
        command: $("command").value,
        artifactPaths: $("artifact-paths").value.split(",").map((s) => s.trim()).filter(Boolean),
        keepSandbox: $("keep-sandbox").checked,
        env: parseEnv($("env").value),
      };
    } catch (err) {
      return showError(err.message);
    }
    if ($("timeout").value) body.timeoutSeconds = Number($("timeout").value);
    if ($("team").value) body.team = $("team").value;
    if ($("network").value !== "none") body.network = $("network").value;
    if ($("network").value === "replay") body.replayOf = $("replay-of").value.trim();
    $("submit").disabled = true;
    $("progress").hidden = false;
    const hashing = meter(file.size, report);
    try {
      const onHash = (done) => hashing(done, "Computing sha256");
      let sha256;
      if (digest && digest.file === file) {
        digest.onProgress = onHash;
        sha256 = await digest.hashed;
      } else {
        sha256 = await sha256File(file, onHash);
      }
      body.archive = { sizeBytes: file.size, sha256, filename: file.name };
      const run = await call("POST", "/api/v1/workspace-runs", body);
      form.dataset.runId = run.id;
      if (run.status === "ready" && run.archive.uploadMethod === "reused") {
        form.dataset.uploadMethod = "reused";
        $("phase").textContent = "Archive already uploaded, reusing";
      } else {
        await upload(run, file, Number(form.dataset.directLimit), report);
      }
      $("phase").textContent = "Starting";
      await call("POST", `/api/v1/workspace-runs/${run.id}/start`);
      window.location.assign(`/runs/${run.id}`);
    } catch (err) {
      showError(describe(err));
      $("submit").disabled = false;
    }
  });
})();
