// Hangar console: hashes one chunk of a file at a time, off the page's thread.
// Gets {id, file, offset, length}; answers {id, zero: true} for a chunk of zeros,
// else {id, digest (lower-case hex SHA-256)}.
"use strict";

function isZero(buf) {
  const n = buf.byteLength - (buf.byteLength % 8);
  const words = new BigUint64Array(buf, 0, n / 8);
  for (let i = 0; i < words.length; i++) {
    if (words[i] !== 0n) return false;
  }
  const tail = new Uint8Array(buf, n);
  for (let i = 0; i < tail.length; i++) {
    if (tail[i] !== 0) return false;
  }
  return true;
}

function hex(buf) {
  return Array.from(new Uint8Array(buf), b => b.toString(16).padStart(2, "0")).join("");
}

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
