// Hangar console: reads a qcow2, VHDX, VMDK or VHD file off the page's thread with
// package diskfmt itself (the CLI's reader) built as WebAssembly (cmd/diskfmt-wasm),
// and hashes its chunks here, with Web Crypto: here, because the chunk's bytes are
// here (no hand-over to hash-worker.js), and with Web Crypto, because Go's SHA-256
// compiled to WebAssembly is about ten times slower (measured on 4 MiB buffers in
// Node: 38 to 60 MiB/s against 457 to 544 MiB/s). Messages:
//
//   {id, op: "open", file, module} → {id, plan}: the uploadplan.Plan (format,
//     virtualSize, extents, chunks, total); module is diskfmt.wasm compiled by the
//     page (a WebAssembly.Module), instantiated here once;
//   {id, op: "chunk", offset, length} → {id, zero: true} for a chunk of zeros, else
//     {id, digest, data}: the chunk of the virtual disk (an ArrayBuffer, handed over
//     without a copy) and its lower-case hex SHA-256;
//   any failure → {id, error}: diskfmt's message for a bad file; {id, error, load:
//     true} when diskfmt.wasm itself could not be loaded.
"use strict";
importScripts("/console/wasm/wasm_exec.js", "/console/static/hash-lib.js");

let diskfmt = null; // the instance's hangarDiskfmt, once instantiated

function load(module) {
  diskfmt = diskfmt || (async () => {
    const go = new Go();
    const instance = await WebAssembly.instantiate(module, go.importObject);
    // run resolves when the program exits, which it does not: its main sets
    // hangarDiskfmt and waits for calls.
    go.run(instance);
    return self.hangarDiskfmt;
  })();
  return diskfmt;
}

let disk = null; // the opened file

self.onmessage = async (e) => {
  const { id, op } = e.data;
  try {
    if (op === "open") {
      let reader;
      try {
        reader = await load(e.data.module);
      } catch (err) {
        self.postMessage({ id, load: true, error: "the disk format reader (diskfmt.wasm) did not load: " + String(err && err.message || err) });
        return;
      }
      if (disk) disk.close();
      disk = await reader.open(e.data.file);
      self.postMessage({ id, plan: JSON.parse(disk.plan) });
      return;
    }
    const buf = (await disk.readAt(e.data.offset, e.data.length)).buffer;
    if (isZero(buf)) {
      self.postMessage({ id, zero: true });
      return;
    }
    const digest = hex(await crypto.subtle.digest("SHA-256", buf));
    self.postMessage({ id, digest, data: buf }, [buf]);
  } catch (err) {
    self.postMessage({ id, error: String(err && err.message || err) });
  }
};
