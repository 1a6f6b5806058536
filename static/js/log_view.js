// A virtualised log: every line is kept as data, only the rows in view (plus a margin) exist in
// the DOM, so 100,000 lines scroll and grow without freezing the page. Rows have one fixed
// height; long lines scroll sideways instead of wrapping, which keeps that height true.
(function () {
  "use strict";
  const { render, strip, newState } = window.CrowNestAnsi;
  const ROW = 18;
  const OVERSCAN = 30;

  class LogView {
    constructor(box) {
      this.box = box;
      this.spacer = box.querySelector(".log-spacer");
      this.rows = box.querySelector(".log-rows");
      this.lines = [];
      this.open = {};  // stream -> index of its line not yet ended by "\n"
      this.sgr = { stdout: newState(), stderr: newState() };
      this.follow = true;
      this.highlight = null;
      this.pending = false;
      this.onFollowChange = () => {};
      box.addEventListener("scroll", () => {
        const atBottom = this.atBottom();
        if (atBottom !== this.follow) { this.follow = atBottom; this.onFollowChange(atBottom); }
        this.schedule();
      });
    }

    atBottom() {
      return this.box.scrollTop + this.box.clientHeight >= this.box.scrollHeight - ROW;
    }

    append(stream, text, ts) {
      const parts = text.split("\n");
      parts.forEach((part, i) => {
        const last = i === parts.length - 1;
        if (last && part === "") return;  // text ended with "\n": nothing open
        part = part.replace(/\r$/, "");
        let idx = this.open[stream];
        if (idx === undefined) {
          const st = this.sgr[stream];
          const start = st.fg !== null || st.bg !== null || st.bold ? Object.assign({}, st) : null;
          idx = this.lines.push({ n: this.lines.length + 1, stream, ts, text: "", start }) - 1;
        }
        this.lines[idx].text += part;
        if (part.indexOf("\x1b") !== -1) render(part, document.createDocumentFragment(), this.sgr[stream]);
        if (last) this.open[stream] = idx;
        else delete this.open[stream];
      });
      this.schedule();
    }

    note(text, cls) {
      this.lines.push({ n: this.lines.length + 1, stream: cls || "note", ts: null, text, start: null });
      this.schedule();
    }

    schedule() {
      if (this.pending) return;
      this.pending = true;
      requestAnimationFrame(() => { this.pending = false; this.draw(); });
    }

    draw() {
      const wasFollowing = this.follow;
      this.spacer.style.height = this.lines.length * ROW + "px";
      if (wasFollowing) this.box.scrollTop = this.box.scrollHeight;
      const first = Math.max(0, Math.floor(this.box.scrollTop / ROW) - OVERSCAN);
      const count = Math.ceil(this.box.clientHeight / ROW) + 2 * OVERSCAN;
      const end = Math.min(this.lines.length, first + count);
      this.rows.style.transform = `translateY(${first * ROW}px)`;
      const frag = document.createDocumentFragment();
      for (let i = first; i < end; i++) frag.appendChild(this.row(this.lines[i]));
      this.rows.replaceChildren(frag);
      this.follow = wasFollowing || this.atBottom();
    }

    row(line) {
      const div = document.createElement("div");
      div.className = "line " + line.stream + (line.n === this.highlight ? " hl" : "");
      div.id = "L" + line.n;
      const a = document.createElement("a");
      a.className = "ln";
      a.href = "#L" + line.n;
      a.textContent = line.n;
      div.appendChild(a);
      const ts = document.createElement("span");
      ts.className = "ts";
      ts.textContent = line.ts ? line.ts.slice(11, 23) : "";
      div.appendChild(ts);
      const body = document.createElement("span");
      body.className = "tx";
      render(line.text, body, line.start ? Object.assign({}, line.start) : newState());
      div.appendChild(body);
      return div;
    }

    scrollToLine(n) {
      this.highlight = n;
      this.follow = false;
      this.onFollowChange(false);
      // The spacer may lag behind the data until the next frame; scrollTop would be clamped.
      this.spacer.style.height = this.lines.length * ROW + "px";
      this.box.scrollTop = Math.max(0, (n - 1) * ROW - this.box.clientHeight / 3);
      this.draw();
    }

    bottom() {
      this.follow = true;
      this.box.scrollTop = this.box.scrollHeight;
      this.schedule();
    }

    // Next line after `from` whose visible text holds `query` (case-insensitive), wrapping.
    find(query, from) {
      const q = query.toLowerCase();
      const total = this.lines.length;
      for (let k = 1; k <= total; k++) {
        const line = this.lines[(from + k - 1) % total];
        if (strip(line.text).toLowerCase().includes(q)) return line.n;
      }
      return null;
    }

    count(query) {
      const q = query.toLowerCase();
      let c = 0;
      for (const line of this.lines) if (strip(line.text).toLowerCase().includes(q)) c++;
      return c;
    }
  }

  window.CrowNestLogView = LogView;
})();
