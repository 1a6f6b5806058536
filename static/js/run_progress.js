// The archive's progress where people look: above the log, a bar for the upload, the
// verification and the extraction into /workspace (archive_progress events: bytes, files and a
// rate from the events' own timestamps, so a replay shows true figures). When the command shows
// its first sign of life the bar gives way to a one-line summary of the extraction, which names
// the size that landed in /workspace (the archive unpacked) and the compressed size as such.
(function () {
  "use strict";
  const TITLES = {
    upload: "Uploading the archive",
    verify: "Verifying the archive",
    pull: "Pulling the template image from the registry",
    extract: "Extracting into /workspace",
  };
  // Below this a rate says more about clocks and batching than about the work: none is shown.
  const MIN_RATE_SECONDS = 0.2;
  const human = (n) => window.CrowNest.bytes(n);
  const count = (n) => Number(n).toLocaleString("en");

  // The line under the bar for one event: `first` is the phase's first event {t, bytes}.
  function lineText(d, first, t, totalFiles) {
    const pct = d.bytesTotal ? Math.min(100, (d.bytesDone / d.bytesTotal) * 100) : 100;
    const compressed = d.phase === "extract" ? " compressed" : "";
    const parts = [`${human(d.bytesDone)} of ${human(d.bytesTotal)}${compressed}`, `${pct.toFixed(0)}%`];
    if (d.filesDone != null) {
      const of = d.phase === "extract" && totalFiles ? ` of ${count(totalFiles)}` : "";
      parts.push(`${count(d.filesDone)}${of} files`);
    }
    const secs = (t - first.t) / 1000;
    if (secs >= MIN_RATE_SECONDS && d.bytesDone > first.bytes) parts.push(`${human((d.bytesDone - first.bytes) / secs)}/s`);
    return parts.join(" · ");
  }

  // The summary once extracted: files, the size unpacked (what /workspace holds), the
  // compressed size named as such, the time. Without the unpacked size (an old run's events
  // and no figure on the page) only the compressed size, said so.
  function summaryText(d, secs, expanded) {
    const files = d.filesDone != null ? `${count(d.filesDone)} files, ` : "";
    const unpacked = d.expandedBytes || expanded;
    const size = unpacked
      ? `${human(unpacked)} (${human(d.bytesTotal)} compressed)`
      : `${human(d.bytesTotal)} compressed`;
    return `${files}${size}${secs >= 0.1 ? ` in ${secs.toFixed(1)}s` : ""}`;
  }

  class ArchiveProgress {
    constructor(box) {
      this.box = box;
      this.phase = box.querySelector("#ap-phase");
      this.text = box.querySelector("#ap-text");
      this.bar = box.querySelector("#ap-bar");
      this.totalFiles = Number(box.dataset.files) || null;
      this.expanded = Number(box.dataset.expanded) || null;
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
      this.phase.textContent = TITLES[d.phase] || d.phase;
      this.text.textContent = lineText(d, this.first[d.phase], t, this.totalFiles);
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
      const secs = Math.max(0, (last.t - this.first.extract.t) / 1000);
      this.phase.textContent = "Archive extracted";
      this.text.textContent = summaryText(last.d, secs, this.expanded);
      this.bar.value = 100;
      this.box.classList.add("done");
      this.box.dataset.phase = "done";
      this.box.hidden = false;
    }
  }

  ArchiveProgress.lineText = lineText;
  ArchiveProgress.summaryText = summaryText;
  window.CrowNestArchiveProgress = ArchiveProgress;
})();
