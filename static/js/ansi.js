// ANSI SGR colours to DOM nodes. Log text is never parsed as HTML: every piece becomes a text
// node inside a span whose class names the colour; other escape sequences are dropped.
(function () {
  "use strict";
  // CSI sequences (colours, cursor moves, erases) and OSC sequences (titles, links).
  const ESC = /\x1b\[([0-9;?]*)([A-Za-z])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][A-Za-z0-9]|\x1b[=>]/g;

  function strip(text) {
    return text.replace(ESC, "");
  }

  function apply(state, params) {
    const codes = params === "" ? [0] : params.split(";").map(Number);
    for (let i = 0; i < codes.length; i++) {
      const c = codes[i];
      if (c === 0) { state.fg = null; state.bg = null; state.bold = false; state.dim = false; state.italic = false; state.underline = false; }
      else if (c === 1) state.bold = true;
      else if (c === 2) state.dim = true;
      else if (c === 3) state.italic = true;
      else if (c === 4) state.underline = true;
      else if (c === 22) { state.bold = false; state.dim = false; }
      else if (c === 23) state.italic = false;
      else if (c === 24) state.underline = false;
      else if (c >= 30 && c <= 37) state.fg = c - 30;
      else if (c >= 90 && c <= 97) state.fg = c - 90 + 8;
      else if (c === 39) state.fg = null;
      else if (c >= 40 && c <= 47) state.bg = c - 40;
      else if (c >= 100 && c <= 107) state.bg = c - 100 + 8;
      else if (c === 49) state.bg = null;
      else if ((c === 38 || c === 48) && codes[i + 1] === 5) {
        // 256-colour: the 16 basic ones keep their class, others are approximated by none.
        const n = codes[i + 2];
        if (n < 16) state[c === 38 ? "fg" : "bg"] = n;
        i += 2;
      } else if ((c === 38 || c === 48) && codes[i + 1] === 2) i += 4;
    }
  }

  function classes(state) {
    const out = [];
    if (state.fg !== null) out.push("fg" + state.fg);
    if (state.bg !== null) out.push("bg" + state.bg);
    if (state.bold) out.push("b");
    if (state.dim) out.push("dim");
    if (state.italic) out.push("i");
    if (state.underline) out.push("u");
    return out.join(" ");
  }

  // Appends the rendered text to `parent`; `state` carries colours across lines of one stream.
  function render(text, parent, state) {
    let last = 0;
    let m;
    ESC.lastIndex = 0;
    const emit = (piece) => {
      if (!piece) return;
      const cls = classes(state);
      if (!cls) { parent.appendChild(document.createTextNode(piece)); return; }
      const span = document.createElement("span");
      span.className = cls;
      span.textContent = piece;
      parent.appendChild(span);
    };
    while ((m = ESC.exec(text)) !== null) {
      emit(text.slice(last, m.index));
      if (m[2] === "m") apply(state, m[1]);
      last = ESC.lastIndex;
    }
    emit(text.slice(last));
  }

  const newState = () => ({ fg: null, bg: null, bold: false, dim: false, italic: false, underline: false });
  window.CrowNestAnsi = { render, strip, newState };
})();
