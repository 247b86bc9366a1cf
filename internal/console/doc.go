// Package console is Hangar's web console: server-rendered HTML pages over Hangar's
// own API, served under /console/ on the API's port.
//
// Vocabulary:
//   - a session is what signing in with an API key makes: a random 256-bit ID and
//     a random 256-bit secret in an HttpOnly, SameSite=Strict cookie (Secure under
//     TLS). Its row in the database (SessionStore: shared by every node, kept
//     across restarts) is found by the ID's SHA-256 and holds the API key sealed
//     under a key derived from the secret, which is stored nowhere: the database
//     alone yields no key. The CSRF token and the flash cookie's key are HMACs of
//     the secret. Signing out deletes the row: the session ends on every node.
//   - a page is a GET: it reads and never changes anything. An action is a POST from
//     a form carrying the session's CSRF token (compared in constant time) and sent
//     from this origin (Origin and Sec-Fetch-Site are checked when the browser sends
//     them); it ends with a redirect to a page (POST, redirect, GET), or, for what
//     is shown once (a run-command's output, a new API key, a GC report), with the
//     page itself.
//   - a paged list (the image list) is cut into pages here, after the API's
//     whole list is filtered and sorted as the URL says (q, sort, order, page):
//     every state of it is a link, and the browser's script only filters the rows
//     of the page shown.
//   - the upload proxy is /console/api/uploads…: exactly the API's six upload
//     routes, passed on in process with the session's key, for the browser's
//     chunked upload (static/upload.js); each request needs the session, this
//     origin and the CSRF token in the X-Hangar-CSRF header. The import proxy,
//     /console/api/disks/NAME/import, is the API's import from a URL, passed on
//     the same way with its NDJSON progress stream, for static/diskimport.js.
//   - the browser's diskfmt is package diskfmt built as WebAssembly
//     (cmd/diskfmt-wasm, by scripts/build-wasm.sh) and embedded from wasm/ when it
//     was built; static/disk-worker.js runs it so the upload reads qcow2, VHDX, VMDK
//     and dynamic VHD files as the CLI does (the chunks of package uploadplan).
//     Without it the upload page reads raw and fixed VHD files only, and says so.
//
// Invariants:
//   - No rule lives here. Every page and action is one or more calls of Hangar's API
//     through package client, in this process, with the session's key: what a tenant
//     may see or do is what the API lets that key see or do.
//   - Something the tenant may not see gives the very same "not found" page as
//     something that does not exist: the page names neither.
//   - Every response carries a strict Content-Security-Policy (no inline script or
//     style, no eval but WebAssembly's, frame-ancestors 'none'), nosniff and Referrer-Policy same-origin; every
//     tenant-written string goes through html/template, and only http(s) URLs become
//     links.
package console
