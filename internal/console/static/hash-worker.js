// Hangar console: hashes one chunk of a file at a time, off the page's thread.
// Gets {id, file, offset, length}; answers {id, zero: true} for a chunk of zeros,
// else {id, digest (lower-case hex SHA-256)}.
"use strict";
importScripts("/console/static/hash-lib.js");

self.onmessage = async (e) => {
  const { id, file, offset, length } = e.data;
  try {
    const buf = await file.slice(offset, offset + length).arrayBuffer();
    if (buf.byteLength !== length) throw new Error("the file changed while it was read");
    if (isZero(buf)) {
      self.postMessage({ id, zero: true });
      return;
    }
    const digest = hex(await crypto.subtle.digest("SHA-256", buf));
    self.postMessage({ id, digest });
  } catch (err) {
    self.postMessage({ id, error: String(err && err.message || err) });
  }
};
