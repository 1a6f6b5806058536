// The archive's progress where people look: above the log, a bar for the upload, the
// verification and the extraction into /workspace (archive_progress events: bytes, files and a
// rate from the events' own timestamps, so a replay shows true figures). When the command shows
// its first sign of life the bar gives way to a one-line summary of the extraction.
(function () {
  "use strict";
  const TITLES = {
    upload: "Uploading the archive",
    verify: "Verifying the archive",
    extract: "Extracting into /workspace",
  };

  function human(n) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1).replace(/\.0$/, "") : String(Math.round(n))) + " " + units[i];
  }

  const count = (n) => Number(n).toLocaleString("en");

  class ArchiveProgress {
    constructor(box) {
      this.box = box;
      this.phase = box.querySelector("#ap-phase");
      this.text = box.querySelector("#ap-text");
      this.bar = box.querySelector("#ap-bar");
      this.totalFiles = Number(box.dataset.files) || null;
      this.first = {};  // phase -> its first event {t, bytes}
      this.last = null;
      this.finished = false;
    }

    update(ev) {
      const d = ev.data || {};
      const t = Date.parse(ev.timestamp);
      if (!this.first[d.phase]) this.first[d.phase] = { t, bytes: d.bytesDone };
      if (d.phase === "verify" && d.filesDone != null) this.totalFiles = d.filesDone;
      this.last = { t, d };
      if (this.finished) return;
      const pct = d.bytesTotal ? Math.min(100, (d.bytesDone / d.bytesTotal) * 100) : 100;
      const parts = [`${human(d.bytesDone)} of ${human(d.bytesTotal)}`, `${pct.toFixed(0)}%`];
      if (d.filesDone != null) {
        const of = d.phase === "extract" && this.totalFiles ? ` of ${count(this.totalFiles)}` : "";
        parts.push(`${count(d.filesDone)}${of} files`);
      }
      const f = this.first[d.phase];
      const secs = (t - f.t) / 1000;
      if (secs > 0 && d.bytesDone > f.bytes) parts.push(`${human((d.bytesDone - f.bytes) / secs)}/s`);
      this.phase.textContent = TITLES[d.phase] || d.phase;
      this.text.textContent = parts.join(" · ");
      this.bar.value = pct;
      this.box.classList.remove("done");
      this.box.dataset.phase = d.phase;
      this.box.hidden = false;
    }

    // The command began (output, a heartbeat) or the run ended: keep one line about the archive.
    finish() {
      if (this.finished) return;
      this.finished = true;
      const last = this.last;
      if (!last || last.d.phase !== "extract") { this.box.hidden = true; return; }
      const f = this.first.extract;
      const secs = Math.max(0, (last.t - f.t) / 1000);
      const files = last.d.filesDone != null ? `${count(last.d.filesDone)} files, ` : "";
      this.phase.textContent = "Archive extracted";
      this.text.textContent = `${files}${human(last.d.bytesTotal)}${secs >= 0.1 ? ` in ${secs.toFixed(1)}s` : ""}`;
      this.bar.value = 100;
      this.box.classList.add("done");
      this.box.dataset.phase = "done";
      this.box.hidden = false;
    }
  }

  window.CrowNestArchiveProgress = ArchiveProgress;
})();
