// A virtualised log: every line is kept as data, only the rows in view (plus a margin) exist in
// the DOM, so 100,000 lines scroll and grow without freezing the page. Rows have one fixed
// height; long lines scroll sideways instead of wrapping, which keeps that height true.
//
// Log groups (the GitHub Actions convention): a line `::group::NAME` becomes a header that folds
// the lines after it, up to `::endgroup::` (hidden; the raw download keeps both as printed). A
// group folds by itself when it ends, unless someone opened or closed it by hand meanwhile.
(function () {
  "use strict";
  const { render, strip, newState } = window.CrowNestAnsi;
  const ROW = 18;
  const OVERSCAN = 30;
  const GROUP = /^::group::(.*)$/;
  const ENDGROUP = /^::endgroup::\s*$/;

  class LogView {
    constructor(box) {
      this.box = box;
      this.spacer = box.querySelector(".log-spacer");
      this.rows = box.querySelector(".log-rows");
      this.lines = [];
      this.shown = [];  // indexes into lines, in order: what scrolls (folded lines left out)
      this.dirty = false;  // `shown` must be rebuilt before the next draw
      this.groups = [];
      this.group = null;  // the group that new lines join
      this.open = {};  // stream -> index of its line not yet ended by "\n"
      this.sgr = { stdout: newState(), stderr: newState() };
      this.follow = true;
      this.highlight = null;
      this.pending = false;
      this.onFollowChange = () => {};
      this.onChange = () => {};
      box.addEventListener("scroll", () => {
        const atBottom = this.atBottom();
        if (atBottom !== this.follow) { this.follow = atBottom; this.onFollowChange(atBottom); }
        this.schedule();
      });
      box.addEventListener("click", (e) => {
        const button = e.target.closest("button.fold");
        if (button) this.toggle(Number(button.dataset.group));
      });
    }

    atBottom() {
      return this.box.scrollTop + this.box.clientHeight >= this.box.scrollHeight - ROW;
    }

    push(line) {
      line.n = this.lines.length + 1;
      if (this.group && line.kind !== "group") {
        line.group = this.group.id;
        this.group.count++;
      }
      const idx = this.lines.push(line) - 1;
      if (!(this.group && this.group.folded && line.kind !== "group")) this.shown.push(idx);
      return idx;
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
          idx = this.push({ stream, ts, text: "", start });
        }
        this.lines[idx].text += part;
        this.lines[idx].lc = undefined;  // its search text is made again when asked
        if (part.indexOf("\x1b") !== -1) render(part, document.createDocumentFragment(), this.sgr[stream]);
        if (last) this.open[stream] = idx;
        else {
          delete this.open[stream];
          this.ended(idx);
        }
      });
      this.schedule();
    }

    // A line is complete: it may open or close a group.
    ended(idx) {
      const line = this.lines[idx];
      if (line.text.indexOf("::") === -1) return;
      const plain = strip(line.text).trim();
      const opens = plain.match(GROUP);
      if (opens) {
        this.close();
        if (line.group !== undefined) {
          this.groups[line.group].count--;
          this.dirty = true;  // it was hidden if that group is folded; a header never is
        }
        delete line.group;
        line.kind = "group";
        this.group = { id: this.groups.length, name: opens[1].trim() || "group", head: idx, count: 0, folded: false, touched: false, ended: false };
        line.groupId = this.group.id;
        this.groups.push(this.group);
      } else if (ENDGROUP.test(plain)) {
        line.kind = "endgroup";
        if (line.group !== undefined) this.groups[line.group].count--;
        this.dirty = true;  // the marker leaves the view
        this.close();
      }
    }

    close() {
      const g = this.group;
      if (!g) return;
      g.ended = true;
      this.group = null;
      if (!g.touched && g.count > 0) { g.folded = true; this.dirty = true; }
    }

    toggle(id) {
      const g = this.groups[id];
      if (!g) return;
      g.folded = !g.folded;
      g.touched = true;
      this.dirty = true;
      this.onChange();
      this.draw();
    }

    rebuild() {
      const shown = [];
      for (let i = 0; i < this.lines.length; i++) {
        const line = this.lines[i];
        if (line.kind === "endgroup") continue;
        if (line.group !== undefined && this.groups[line.group].folded) continue;
        shown.push(i);
      }
      this.shown = shown;
      this.dirty = false;
    }

    note(text, cls) {
      const group = this.group;
      this.group = null;  // notes (artifacts, the end) never hide inside a group
      this.push({ stream: cls || "note", ts: null, text, start: null });
      this.group = group;
      this.schedule();
    }

    schedule() {
      if (this.pending) return;
      this.pending = true;
      requestAnimationFrame(() => { this.pending = false; this.draw(); });
    }

    draw() {
      if (this.dirty) this.rebuild();
      const wasFollowing = this.follow;
      this.spacer.style.height = this.shown.length * ROW + "px";
      if (wasFollowing) this.box.scrollTop = this.box.scrollHeight;
      const first = Math.max(0, Math.floor(this.box.scrollTop / ROW) - OVERSCAN);
      const count = Math.ceil(this.box.clientHeight / ROW) + 2 * OVERSCAN;
      const end = Math.min(this.shown.length, first + count);
      this.rows.style.transform = `translateY(${first * ROW}px)`;
      // Rows are rebuilt on every draw: keep the keyboard focus on the same group's button.
      const active = document.activeElement;
      const focused = active && this.rows.contains(active) ? active.dataset.group : undefined;
      const frag = document.createDocumentFragment();
      for (let i = first; i < end; i++) frag.appendChild(this.row(this.lines[this.shown[i]]));
      this.rows.replaceChildren(frag);
      if (focused !== undefined) {
        const again = this.rows.querySelector(`button.fold[data-group="${focused}"]`);
        if (again) again.focus({ preventScroll: true });
      }
      this.follow = wasFollowing || this.atBottom();
    }

    row(line) {
      const div = document.createElement("div");
      div.className = "line " + line.stream + (line.n === this.highlight ? " hl" : "");
      div.id = "L" + line.n;
      const a = document.createElement("a");
      a.className = "ln";
      a.href = "#L" + line.n;
      a.tabIndex = -1;
      a.textContent = line.n;
      div.appendChild(a);
      const ts = document.createElement("span");
      ts.className = "ts";
      ts.textContent = line.ts ? line.ts.slice(11, 23) : "";
      div.appendChild(ts);
      if (line.kind === "group") {
        div.classList.add("group-head");
        div.appendChild(this.foldButton(this.groups[line.groupId]));
        return div;
      }
      if (line.group !== undefined) div.classList.add("in-group");
      const body = document.createElement("span");
      body.className = "tx";
      render(line.text, body, line.start ? Object.assign({}, line.start) : newState());
      div.appendChild(body);
      return div;
    }

    foldButton(g) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "fold";
      button.dataset.group = g.id;
      button.setAttribute("aria-expanded", String(!g.folded));
      const name = document.createElement("span");
      name.className = "group-name";
      name.textContent = g.name;
      const size = document.createElement("span");
      size.className = "group-size";
      size.textContent = g.ended ? ` ${g.count} line${g.count === 1 ? "" : "s"}` : " …";
      button.append(name, size);
      return button;
    }

    // The position of line n among the shown rows; a folded group around it opens first.
    position(n) {
      const idx = n - 1;
      const line = this.lines[idx];
      if (line && line.group !== undefined && this.groups[line.group].folded) {
        this.groups[line.group].folded = false;
        this.groups[line.group].touched = true;
        this.dirty = true;
      }
      if (this.dirty) this.rebuild();
      let lo = 0;
      let hi = this.shown.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (this.shown[mid] < idx) lo = mid + 1;
        else hi = mid;
      }
      return lo;
    }

    scrollToLine(n) {
      this.highlight = n;
      this.follow = false;
      this.onFollowChange(false);
      const pos = this.position(n);
      // The spacer may lag behind the data until the next frame; scrollTop would be clamped.
      this.spacer.style.height = this.shown.length * ROW + "px";
      this.box.scrollTop = Math.max(0, pos * ROW - this.box.clientHeight / 3);
      this.draw();
    }

    bottom() {
      this.follow = true;
      this.box.scrollTop = this.box.scrollHeight;
      this.schedule();
    }

    searchable(line) {
      return line.kind !== "endgroup";
    }

    // A line's visible text in lower case, made once: a search of 100,000 lines would otherwise
    // strip and lower-case each of them on every Enter (measured: long tasks past 150 ms).
    searchText(line) {
      if (line.lc === undefined) {
        line.lc = (line.text.indexOf("\x1b") === -1 ? line.text : strip(line.text)).toLowerCase();
      }
      return line.lc;
    }

    // Next line after `from` whose visible text holds `query` (case-insensitive), wrapping.
    find(query, from) {
      const q = query.toLowerCase();
      const total = this.lines.length;
      for (let k = 1; k <= total; k++) {
        const line = this.lines[(from + k - 1) % total];
        if (this.searchable(line) && this.searchText(line).includes(q)) return line.n;
      }
      return null;
    }

    count(query) {
      const q = query.toLowerCase();
      let c = 0;
      for (const line of this.lines) if (this.searchable(line) && this.searchText(line).includes(q)) c++;
      return c;
    }
  }

  window.CrowNestLogView = LogView;
})();
