// Hangar console: small enhancements over plain links and forms. Everything works
// without this file. No tenant-written text is ever parsed as HTML here: only
// textContent is written.
"use strict";

// Tables with class "data" sort by a click on a column's header.
function sortable(table) {
  const heads = table.tHead ? Array.from(table.tHead.rows[0].cells) : [];
  heads.forEach((th, col) => {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = th.textContent;
    b.title = "Sort by " + th.textContent;
    th.textContent = "";
    th.appendChild(b);
    b.addEventListener("click", () => {
      const asc = th.getAttribute("aria-sort") !== "ascending";
      heads.forEach(h => h.removeAttribute("aria-sort"));
      th.setAttribute("aria-sort", asc ? "ascending" : "descending");
      const body = table.tBodies[0];
      const key = r => {
        const c = r.cells[col];
        return c ? (c.dataset.sort ?? c.textContent.trim()) : "";
      };
      const rows = Array.from(body.rows);
      const cmp = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });
      rows.sort((a, z) => {
        const x = key(a), y = key(z);
        const nx = Number(x), ny = Number(y);
        const d = (x !== "" && y !== "" && !isNaN(nx) && !isNaN(ny)) ? nx - ny : cmp.compare(x, y);
        return asc ? d : -d;
      });
      rows.forEach(r => body.appendChild(r));
    });
  });
}

// An input with data-filter="ID" hides the rows of table ID that do not contain
// what is typed.
function filterable(input) {
  const table = document.getElementById(input.dataset.filter);
  if (!table) return;
  input.closest(".filter").hidden = false;
  input.addEventListener("input", () => {
    const q = input.value.trim().toLowerCase();
    for (const r of table.tBodies[0].rows) {
      r.hidden = q !== "" && !r.textContent.toLowerCase().includes(q);
    }
  });
}

// Buttons with data-copy copy a reference to the clipboard.
function copyButton(b) {
  if (!navigator.clipboard) return;
  b.hidden = false;
  b.setAttribute("aria-label", "Copy " + b.dataset.copy);
  b.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(b.dataset.copy);
      b.textContent = "Copied";
    } catch (e) {
      b.textContent = "Copy failed";
    }
    setTimeout(() => { b.textContent = "Copy"; }, 1500);
  });
}

// The serial console (pre with data-src) refreshes every few seconds while shown,
// keeping the view at the bottom when it was there.
function tail(pre) {
  const refresh = async () => {
    if (document.hidden) return;
    try {
      const r = await fetch(pre.dataset.src, { credentials: "same-origin", cache: "no-store" });
      // A session that ended answers with the sign-in page: keep the last text.
      if (!r.ok || !(r.headers.get("Content-Type") || "").startsWith("text/plain")) return;
      const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      pre.textContent = await r.text();
      if (atEnd) pre.scrollTop = pre.scrollHeight;
    } catch (e) { /* the next refresh tries again */ }
  };
  pre.scrollTop = pre.scrollHeight;
  setInterval(refresh, 3000);
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("table.data").forEach(sortable);
  document.querySelectorAll("input[data-filter]").forEach(filterable);
  document.querySelectorAll("button[data-copy]").forEach(copyButton);
  document.querySelectorAll("pre[data-src]").forEach(tail);
});
