// Hangar console: uploads a disk file with the API's chunked, resumable protocol
// (the one `hangar disk upload` uses), through the console's session:
//
//   POST uploads → for each chunk: read and hash (Web Workers) → POST missing (in
//   batches, as the CLI asks) → PUT chunk (only if missing) → POST commit with the
//   non-zero chunks' extents.
//
// Raw files and fixed VHDs are read here, straight from the file (each chunk is
// sent as the file's own slice). qcow2, VHDX, VMDK and dynamic VHD files are read by
// package diskfmt built as WebAssembly, in disk-worker.js, which lists the chunks
// to read (those the CLI reads) and gives their bytes; a build of Hangar without it
// refuses those files, saying so.
//
// The upload's ID is kept in localStorage, keyed by disk name and file identity,
// so that choosing the same file again after a reload or a dropped connection
// resumes it: chunks already on the server are not sent again. Only textContent
// is ever written.
"use strict";

(() => {
  const form = document.getElementById("upload");
  if (!form) return;
  const $ = id => document.getElementById(id);
  const api = form.dataset.api;
  const csrf = form.dataset.csrf;
  const chunkSize = Number(form.dataset.chunkSize);
  const maxMissing = Math.max(1, Number(form.dataset.maxMissing) || 1); // digests in one question
  const diskWorker = form.dataset.wasm || ""; // disk-worker.js, when this build has diskfmt.wasm
  const diskModuleURL = form.dataset.wasmModule || ""; // diskfmt.wasm
  let diskModule = null; // diskfmt.wasm compiled, once a page: every worker instantiates it
  const workers = Math.max(1, Math.min(navigator.hardwareConcurrency || 2, 4));
  const inFlight = 2 * workers + 2; // chunks being hashed or sent at once (bounds memory)
  const storeKey = (name, f) => "hangar.upload:" + JSON.stringify([name, f.name, f.size, f.lastModified]);

  // An interrupted upload is offered for resuming.
  for (let i = 0; i < localStorage.length; i++) {
    const k = localStorage.key(i);
    if (!k.startsWith("hangar.upload:")) continue;
    try {
      const [name, file] = JSON.parse(k.slice("hangar.upload:".length));
      const note = $("upload-resume");
      note.textContent = "The upload of " + file + " as " + name + " was interrupted: choose the same file to resume it.";
      note.hidden = false;
      if (!$("upload-name").value) $("upload-name").value = name;
    } catch (e) { localStorage.removeItem(k); }
    break;
  }

  const mib = n => (n / 1048576).toFixed(1) + " MiB";
  const duration = s => {
    if (!isFinite(s)) return "…";
    s = Math.round(s);
    return s >= 3600 ? Math.floor(s / 3600) + " h " + Math.round((s % 3600) / 60) + " min"
      : s >= 60 ? Math.floor(s / 60) + " min " + (s % 60) + " s" : s + " s";
  };

  class APIError extends Error {}

  // call sends one request to the API's upload routes; network failures are
  // retried a few times (a dropped connection), API errors are not.
  async function call(method, path, body, json = true) {
    const headers = { "X-Hangar-CSRF": csrf };
    if (json && body !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(body);
    }
    for (let attempt = 0; ; attempt++) {
      let r;
      try {
        r = await fetch(api + path, { method, headers, body, credentials: "same-origin", cache: "no-store" });
      } catch (e) {
        if (attempt >= 4) throw new Error("the connection to the server failed: " + e.message + ". Choose the file again to resume.");
        const st = $("upload-status").dataset;
        st.retries = String(Number(st.retries || 0) + 1); // tests see that a retry happened
        await new Promise(ok => setTimeout(ok, 500 * 2 ** attempt));
        continue;
      }
      const text = await r.text();
      let doc = null;
      try { doc = text ? JSON.parse(text) : null; } catch (e) { /* not JSON */ }
      if (!r.ok) {
        throw new APIError(doc && doc.error && doc.error.message || r.status + " " + r.statusText);
      }
      return doc;
    }
  }

  // detect reads the file's first and last sectors: raw files and fixed VHDs are
  // read here ({format, size}); the other formats are diskfmt's ({format: "other",
  // name}), or refused with what to do instead when this build lacks it.
  async function detect(file) {
    const head = new Uint8Array(await file.slice(0, 512).arrayBuffer());
    const tail = file.size >= 512 ? new Uint8Array(await file.slice(file.size - 512).arrayBuffer()) : new Uint8Array();
    const ascii = (b, n) => String.fromCharCode(...b.subarray(0, n));
    const other = name => {
      if (diskWorker) return { format: "other", name };
      throw new Error("this is a " + name + " file: this build of Hangar uploads only raw and fixed VHD files from the browser " +
        "(build it with make build to read every format here); convert it (qemu-img convert -O raw) or use hangar disk upload");
    };
    const magics = { "QFI\xfb": "qcow2", "vhdxfile": "VHDX", "KDMV": "VMDK", "conectix": "VHD", "# Disk D": "VMDK" };
    for (const [magic, name] of Object.entries(magics)) {
      if (ascii(head, magic.length) === magic) return other(name);
    }
    if (ascii(tail, 8) === "conectix") {
      const v = new DataView(tail.buffer);
      const size = Number(v.getBigUint64(48)), type = v.getUint32(60);
      if (type !== 2) return other(type === 3 ? "dynamic VHD" : "VHD");
      if (size !== file.size - 512) throw new Error("this fixed VHD's footer says " + size + " bytes but the file holds " + (file.size - 512));
      return { format: "vhd-fixed", size };
    }
    if (file.size === 0) throw new Error("the file is empty");
    return { format: "raw", size: file.size };
  }

  // A pool of n workers running script; ask() sends a message to the next one and
  // resolves with its answer, all() to every one.
  function workerPool(script, n, what) {
    const pool = [], waiting = new Map();
    let next = 0, seq = 0;
    const fail = msg => { for (const [id, p] of waiting) { waiting.delete(id); p({ id, error: msg }); } };
    for (let i = 0; i < n; i++) {
      const w = new Worker(script);
      w.onmessage = e => { const p = waiting.get(e.data.id); waiting.delete(e.data.id); p(e.data); };
      w.onerror = e => { e.preventDefault(); fail("the " + what + " failed: " + (e.message || "it could not start")); };
      w.onmessageerror = () => fail("the " + what + "'s answer could not be read");
      pool.push(w);
    }
    const send = (w, msg) => {
      const id = ++seq;
      return new Promise(ok => { waiting.set(id, ok); w.postMessage({ id, ...msg }); });
    };
    return {
      ask(msg) { return send(pool[next++ % pool.length], msg); },
      all(msg) { return Promise.all(pool.map(w => send(w, msg))); },
      close() { pool.forEach(w => w.terminate()); },
    };
  }

  // A source is what an upload reads: format, size (virtual), the offsets of the
  // chunks to go through and the bytes they cover (total), and read(offset,
  // length), which resolves with {zero: true} or {digest, body}, the body to send.

  // fileSource reads a raw file or a fixed VHD's data: every chunk, hashed in
  // hash-worker.js, sent as the file's own slice, which the browser reads from the
  // file without a copy through the page (the worker hashed the same bytes; a file
  // changed meanwhile no longer matches its digest, and the API refuses it).
  function fileSource(file, format, size) {
    const pool = workerPool("/console/static/hash-worker.js", workers, "hashing worker");
    const offsets = [];
    for (let off = 0; off < size; off += chunkSize) offsets.push(off);
    return {
      format, size, total: size, offsets,
      async read(offset, length) {
        const h = await pool.ask({ file, offset, length });
        if (h.error) throw new Error("reading the file: " + h.error);
        return h.zero ? h : { digest: h.digest, body: file.slice(offset, offset + length) };
      },
      close() { pool.close(); },
    };
  }

  // diskSource reads any format diskfmt knows, in disk-worker.js: each worker opens
  // the file (diskfmt checks every header and table there; a bad file is refused
  // with its message) and the plan, uploadplan's, lists the chunks the CLI reads.
  async function diskSource(file) {
    // Fetched and compiled once here rather than in each worker (5 MiB each time).
    diskModule = diskModule || WebAssembly.compileStreaming(fetch(diskModuleURL, { credentials: "same-origin" }));
    let module;
    try {
      module = await diskModule;
    } catch (e) {
      diskModule = null;
      throw new Error("the disk format reader (diskfmt.wasm) did not load: " + e.message);
    }
    const pool = workerPool(diskWorker, workers, "disk format reader");
    try {
      const opened = await pool.all({ op: "open", file, module });
      const bad = opened.find(a => a.error);
      if (bad) throw new Error(bad.load ? bad.error : "this file cannot be read: " + bad.error);
      const plan = opened[0].plan;
      return {
        format: plan.format, size: plan.virtualSize, total: plan.total, offsets: plan.chunks,
        async read(offset, length) {
          const h = await pool.ask({ op: "chunk", offset, length });
          if (h.error) throw new Error("reading the disk: " + h.error);
          // Sent as a Blob, not the ArrayBuffer itself: Chromium sends a 4 MiB
          // ArrayBuffer body several times slower (bench/consoleupload -format qcow2,
          // 32 MiB: 7 s with ArrayBuffers, 1.3 s with Blobs).
          return h.zero ? h : { digest: h.digest, body: new Blob([h.data]) };
        },
        close() { pool.close(); },
      };
    } catch (e) {
      pool.close();
      throw e;
    }
  }

  // missingAsker returns ask(digest), which resolves with whether the server needs
  // that chunk. Digests are asked in batches, as the CLI asks: the first one at
  // once, and those that come while a question is under way together in the next
  // (at most maxMissing each).
  function missingAsker(path, status) {
    let pending = [], busy = false, calls = 0, asked = 0;
    const flush = async () => {
      if (busy || pending.length === 0) return;
      busy = true;
      const batch = pending.splice(0, maxMissing);
      status.dataset.missingCalls = String(++calls);
      status.dataset.missingAsked = String(asked += batch.length);
      try {
        const need = new Set((await call("POST", path + "/missing", { digests: batch.map(b => b.digest) })).missing || []);
        batch.forEach(b => b.ok(need.has(b.digest)));
      } catch (e) {
        batch.forEach(b => b.fail(e));
      }
      busy = false;
      flush();
    };
    return digest => new Promise((ok, fail) => { pending.push({ digest, ok, fail }); flush(); });
  }

  let running = false;

  async function upload(file, name) {
    const status = $("upload-status");
    $("upload-panel").hidden = false;
    $("upload-error").hidden = true;
    $("upload-done").hidden = true;
    status.dataset.state = "starting";
    for (const k of ["format", "openMs", "missingCalls", "missingAsked", "retries"]) delete status.dataset[k];
    const kind = await detect(file);
    const t0 = performance.now();
    const src = kind.format === "other" ? await diskSource(file) : fileSource(file, kind.format, kind.size);
    status.dataset.openMs = String(Math.round(performance.now() - t0)); // benchmarks tell start-up from reading
    try {
      return await send(file, name, src);
    } finally {
      src.close();
    }
  }

  async function send(file, name, src) {
    const status = $("upload-status"), bar = $("upload-progress");
    const { format, size, total, offsets } = src;
    const key = storeKey(name, file);
    let up = null, resumed = false;
    const saved = localStorage.getItem(key);
    if (saved) {
      try {
        up = await call("GET", "/" + encodeURIComponent(saved));
        resumed = up.name === name && up.virtualSize === size;
      } catch (e) { up = null; }
      if (!resumed) up = null;
    }
    if (!up) {
      up = await call("POST", "", { name, virtualSize: size, sourceFormat: format });
      localStorage.setItem(key, up.id);
    }
    status.dataset.resumed = String(resumed);
    status.dataset.format = format;
    const path = "/" + encodeURIComponent(up.id);
    const count = offsets.length;
    const started = performance.now();
    let done = 0, sent = 0, present = 0, presentChunks = 0, sentChunks = 0;
    bar.max = Math.max(total, 1);
    const show = () => {
      const secs = (performance.now() - started) / 1000;
      const rate = secs > 0 ? done / secs : 0;
      bar.value = done;
      status.dataset.sent = String(sent);
      status.dataset.sentChunks = String(sentChunks);
      status.dataset.presentChunks = String(presentChunks);
      status.textContent = (resumed ? "Resuming. " : "") + mib(done) + " of " + mib(total) + " (" +
        Math.floor(100 * done / Math.max(total, 1)) + "%) · " + mib(rate) + "/s · " + duration(rate > 0 ? (total - done) / rate : Infinity) +
        " left · sent " + mib(sent) + (present ? ", " + mib(present) + " already on the server" : "");
    };
    status.dataset.state = "uploading";
    show();
    const extents = new Array(count);
    const queued = new Set(); // digests asked for or sent by this run: each goes once
    const missing = missingAsker(path, status);
    let index = 0, failed = false;
    const worker = async () => {
      while (index < count && !failed) {
        const i = index++;
        const offset = offsets[i], length = Math.min(chunkSize, size - offset);
        const h = await src.read(offset, length);
        if (!h.zero) {
          extents[i] = { offset, length, sha256: h.digest };
          if (!queued.has(h.digest)) {
            queued.add(h.digest);
            if (await missing(h.digest)) {
              await call("PUT", path + "/chunks/" + h.digest, h.body, false);
              sent += length;
              sentChunks++;
            } else {
              present += length;
              presentChunks++;
            }
          }
        }
        done += length;
        show();
      }
    };
    await Promise.all(Array.from({ length: inFlight }, () => worker().catch(e => { failed = true; throw e; })));
    status.dataset.state = "committing";
    const disk = await call("POST", path + "/commit", { extents: extents.filter(Boolean) });
    localStorage.removeItem(key);
    status.dataset.state = "done";
    const secs = (performance.now() - started) / 1000;
    status.textContent = "Uploaded " + mib(size) + " in " + duration(secs) + " (" + mib(size / Math.max(secs, 0.001)) +
      "/s): sent " + mib(sent) + (present ? ", " + mib(present) + " was already on the server" : "") + ".";
    const d = $("upload-done");
    d.textContent = "";
    const link = document.createElement("a");
    link.href = "/console/disks/" + encodeURIComponent(disk.name);
    link.textContent = "Disk " + disk.name;
    const make = document.createElement("a");
    make.href = "/console/new/image?disk=" + encodeURIComponent(disk.name);
    make.textContent = "make an image of it";
    d.append(link, " is ready: ", make, ".");
    d.hidden = false;
    $("upload-resume").hidden = true;
  }

  form.addEventListener("submit", async e => {
    e.preventDefault();
    if (running) return;
    const file = $("upload-file").files[0], name = $("upload-name").value.trim();
    if (!file || !name) return;
    if (!window.crypto || !crypto.subtle) {
      const err = $("upload-error");
      err.textContent = "Hashing in the browser needs a secure page (HTTPS, or this machine's own address): use HTTPS or hangar disk upload.";
      err.hidden = false;
      $("upload-panel").hidden = false;
      return;
    }
    running = true;
    $("upload-start").disabled = true;
    try {
      await upload(file, name);
    } catch (err) {
      $("upload-status").dataset.state = "error";
      const box = $("upload-error");
      box.textContent = err.message;
      box.hidden = false;
    } finally {
      running = false;
      $("upload-start").disabled = false;
    }
  });
})();
