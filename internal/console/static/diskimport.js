// Hangar console: imports a disk from a URL with its progress shown as it comes.
//
// The form is sent to the API's own import (POST /v1/disks/NAME/import, through
// the console's proxy under /console/api/disks/, with the session and the CSRF
// token in X-Hangar-CSRF), asking for its progress stream: one JSON document a
// line, {"progress":{phase,bytes,total}} while the server fetches the file then
// stores the disk, and last {"disk":…} or {"error":…}. Without fetch streaming,
// or without JavaScript, the form is posted as it is and the page answers once
// the disk is whole. Only textContent is ever written.
"use strict";

(() => {
  const form = document.getElementById("importform");
  if (!form || !form.dataset.api || !window.fetch || !window.ReadableStream || !window.TextDecoder ||
      !("body" in Response.prototype)) return;
  const $ = id => document.getElementById(id);
  const api = form.dataset.api;
  const field = name => form.elements.namedItem(name);
  const csrf = field("csrf").value;

  // bytes formats as hangar.FormatBytes does (1.5 GiB).
  const bytes = n => {
    if (n < 1024) return Math.round(n) + " B";
    let div = 1024, exp = 0;
    for (let m = n / 1024; m >= 1024; m /= 1024) { div *= 1024; exp++; }
    return (n / div).toFixed(1) + " " + "KMGTPE"[exp] + "iB";
  };
  const duration = s => {
    if (!isFinite(s)) return "…";
    s = Math.round(s);
    return s >= 3600 ? Math.floor(s / 3600) + " h " + Math.round((s % 3600) / 60) + " min"
      : s >= 60 ? Math.floor(s / 60) + " min " + (s % 60) + " s" : s + " s";
  };
  const phases = { fetching: "Fetching the file (step 1 of 2)", storing: "Storing the disk (step 2 of 2)" };

  class ImportError extends Error {}

  // The progress of the current phase: a bar (indeterminate when the source did
  // not say its size), bytes, the rate since the phase began and the time left.
  let phase = "", phaseStart = 0;
  function show(p) {
    const now = performance.now();
    if (p.phase !== phase) { phase = p.phase; phaseStart = now; }
    const bar = $("import-progress");
    const secs = (now - phaseStart) / 1000;
    const rate = secs > 0.2 ? p.bytes / secs : 0;
    let text = (phases[p.phase] || p.phase) + ": " + bytes(p.bytes);
    if (p.total > 0) {
      bar.max = p.total;
      bar.value = Math.min(p.bytes, p.total);
      text += " of " + bytes(p.total) + " (" + Math.floor(100 * p.bytes / p.total) + "%)";
    } else {
      bar.removeAttribute("value"); // size unknown: the bar only says "working"
    }
    if (rate > 0) {
      text += " · " + bytes(rate) + "/s";
      if (p.total > 0) text += " · " + duration((p.total - p.bytes) / rate) + " left";
    }
    $("import-status").textContent = text;
  }

  function done(disk) {
    const bar = $("import-progress");
    bar.max = 1;
    bar.value = 1;
    $("import-status").textContent = "Done: disk " + disk.name + " imported, " + bytes(disk.virtualSize) +
      (disk.sourceFormat ? " (" + disk.sourceFormat + ")" : "") + ".";
    const p = $("import-done");
    p.replaceChildren();
    const a = document.createElement("a");
    a.href = "/console/disks/" + encodeURIComponent(disk.name);
    a.textContent = "Open disk " + disk.name;
    const all = document.createElement("a");
    all.href = "/console/disks";
    all.textContent = "all disks";
    p.append(a, " · ", all);
    p.hidden = false;
  }

  function fail(msg) {
    const e = $("import-failed");
    e.textContent = msg;
    e.hidden = false;
    $("import-status").textContent = "The import failed; nothing was stored.";
  }

  // importDisk posts the import and reads its answer: an error answer (a refusal
  // before anything was fetched), the disk (a server that does not stream), or the
  // progress stream, line by line, to its last line.
  async function importDisk(name, body) {
    let r;
    try {
      r = await fetch(api + encodeURIComponent(name) + "/import", {
        method: "POST", credentials: "same-origin", cache: "no-store", body: JSON.stringify(body),
        headers: { "Content-Type": "application/json", "Accept": "application/x-ndjson", "X-Hangar-CSRF": csrf },
      });
    } catch (e) {
      throw new ImportError("the connection to the server failed: " + e.message);
    }
    if (!r.ok || r.status === 201) {
      let doc = null;
      try { doc = await r.json(); } catch (e) { /* not JSON */ }
      if (!r.ok) throw new ImportError(doc && doc.error && doc.error.message || r.status + " " + r.statusText);
      return doc;
    }
    const reader = r.body.getReader();
    const decoder = new TextDecoder();
    let buf = "";
    for (;;) {
      let chunk;
      try {
        chunk = await reader.read();
      } catch (e) {
        throw new ImportError("the connection broke during the import (" + e.message + "); the disk list shows whether the disk arrived");
      }
      buf += decoder.decode(chunk.value || new Uint8Array(), { stream: !chunk.done });
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        let ev;
        try { ev = JSON.parse(line); } catch (e) { throw new ImportError("the server's progress is not JSON lines"); }
        if (ev.error) throw new ImportError(ev.error.message || "the import failed");
        if (ev.disk) return ev.disk;
        if (ev.progress) show(ev.progress);
      }
      if (chunk.done) {
        throw new ImportError("the import's progress ended without a result; the disk list shows whether the disk arrived");
      }
    }
  }

  form.addEventListener("submit", async ev => {
    ev.preventDefault();
    const name = field("name").value.trim();
    const body = { url: field("url").value.trim() };
    const sum = field("sha256").value.trim();
    if (sum) body.sha256 = sum;
    const start = $("import-start");
    start.disabled = true;
    phase = "";
    const old = document.getElementById("import-error");
    if (old) old.hidden = true;
    $("import-failed").hidden = true;
    $("import-done").hidden = true;
    $("import-progress").max = 1;
    $("import-progress").value = 0;
    $("import-status").textContent = "Starting the import of " + name + "…";
    $("import-panel").hidden = false;
    try {
      done(await importDisk(name, body));
    } catch (e) {
      fail(e instanceof ImportError ? e.message : "the import failed: " + e.message);
    } finally {
      start.disabled = false;
    }
  });
})();
