// Hangar console: what the upload's workers (hash-worker.js, disk-worker.js) share.
// isZero(buf) says whether an ArrayBuffer holds only zeros (such a chunk is neither
// hashed nor sent); hex(buf) is its lower-case hex.
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
