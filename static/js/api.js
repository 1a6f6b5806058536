// Calls to the CrowNest API with the browser session: CSRF header, JSON, one error type.
(function () {
  "use strict";

  function csrfToken() {
    const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (m) return decodeURIComponent(m[1]);
    const input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  class ApiError extends Error {
    constructor(status, code, message, details) {
      super(message);
      this.status = status;
      this.code = code;
      this.details = details || {};
    }
  }

  // What a person should do about each error code the API documents.
  const ADVICE = {
    archive_digest_mismatch: "The file changed or was corrupted in transit; choose it again and retry.",
    archive_size_mismatch: "The upload was cut short or the file changed; retry.",
    archive_unsafe: "The archive holds a member that would leave the workspace or is not allowed.",
    archive_too_large: "The archive is over the size limit.",
    unsupported_archive: "Only gzip-compressed tar archives (.tar.gz, .tgz) are accepted.",
    invalid_request: "Some fields are not valid.",
    throttled: "Too many runs or requests right now; wait a moment.",
    invalid_state: "The run is not in a state that allows this.",
    not_found: "No such run.",
    forbidden: "You may not do this.",
  };

  function describe(err) {
    if (!(err instanceof ApiError)) return String(err && err.message ? err.message : err);
    let text = err.message + (ADVICE[err.code] ? " " + ADVICE[err.code] : "");
    const d = err.details || {};
    if (d.fields) {
      text += " " + Object.entries(d.fields).map(([k, v]) => `${k}: ${[].concat(v).join(", ")}`).join("; ");
    }
    if (d.member) text += ` (member: ${d.member}${d.rule ? ", rule: " + d.rule : ""})`;
    if (d.limit) text += ` (limit: ${d.limit})`;
    return text + ` [${err.code}]`;
  }

  async function toError(resp) {
    let body = null;
    try {
      body = await resp.json();
    } catch (e) {
      body = null;
    }
    const e = (body && body.error) || {};
    return new ApiError(resp.status, e.code || "http_" + resp.status, e.message || resp.statusText, e.details);
  }

  async function call(method, url, body, headers) {
    const opts = {
      method,
      credentials: "same-origin",
      headers: Object.assign({ "X-CSRFToken": csrfToken(), Accept: "application/json" }, headers || {}),
    };
    if (body !== undefined && !(body instanceof Blob)) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    } else if (body !== undefined) {
      opts.body = body;
    }
    const resp = await fetch(url, opts);
    if (!resp.ok) throw await toError(resp);
    return resp.status === 204 ? null : resp.json();
  }

  // Bytes as every page writes them (the `filesize` template filter's rule): binary units,
  // no useless ".0": 512 B, 48.2 KiB, 64 MiB, 1 GiB.
  function bytes(n) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    n = Number(n) || 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1).replace(/\.0$/, "") : String(Math.round(n))) + " " + units[i];
  }

  window.CrowNest = { ApiError, bytes, call, csrfToken, describe, toError };
})();
