// Hangar console: small enhancements over plain links and forms. Everything works
// without this file. No tenant-written text is ever parsed as HTML here: only
// textContent is written.
"use strict";

// Tables with class "data" sort by a click on a column's header. A paged table
// (data-server-sort: the image list) is sorted by the server instead, over the
// whole list: its headers are links, and this leaves them alone.
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

// An element with data-live="URL" (the VM list, a VM's page) refreshes the VM
// states it shows from URL's JSON every few seconds, without reloading the page:
// cells with data-vm and data-field get the new values.
function live(root) {
  const refresh = async () => {
    if (document.hidden) return;
    try {
      const r = await fetch(root.dataset.live, { credentials: "same-origin", cache: "no-store" });
      if (!r.ok || !(r.headers.get("Content-Type") || "").startsWith("application/json")) return;
      for (const vm of await r.json()) {
        for (const cell of root.querySelectorAll("[data-vm]")) {
          if (cell.dataset.vm !== vm.name) continue;
          if (cell.dataset.field === "powerState") {
            const span = document.createElement("span");
            span.className = "state " + vm.powerState;
            span.textContent = vm.powerState;
            if (cell.textContent.trim() !== vm.powerState) cell.replaceChildren(span);
          } else if (cell.dataset.field === "provisioningState") {
            const text = vm.provisioningState + (vm.provisioningMessage ? ": " + vm.provisioningMessage : "");
            if (cell.textContent.trim() !== text) cell.textContent = text;
          }
        }
      }
      root.dataset.refreshed = String(Number(root.dataset.refreshed || 0) + 1);
    } catch (e) { /* the next refresh tries again */ }
  };
  setInterval(refresh, 3000);
}

// The VM wizard: the SSH key or the password field, as chosen; the password's
// rules (Azure's, which the API applies) checked as one types.
function vmWizard(form) {
  const radios = form.querySelectorAll('input[name="auth"]');
  const show = () => {
    const auth = form.querySelector('input[name="auth"]:checked').value;
    form.querySelectorAll("[data-auth]").forEach(el => { el.hidden = el.dataset.auth !== auth; });
  };
  radios.forEach(r => r.addEventListener("change", show));
  show();
  const image = form.querySelector("#image");
  if (image) suggestImages(image, document.getElementById(image.getAttribute("list")));
  const pw = form.querySelector("#adminPassword");
  if (!pw) return;
  const mark = (rule, ok) => {
    const li = form.querySelector('[data-rule="' + rule + '"]');
    li.classList.toggle("met", ok);
    li.classList.toggle("unmet", !ok && pw.value !== "");
  };
  pw.addEventListener("input", () => {
    const v = pw.value, n = Array.from(v).length;
    mark("length", n >= Number(pw.dataset.min) && n <= Number(pw.dataset.max));
    const classes = [/\p{Ll}/u, /\p{Lu}/u, /\p{Nd}/u, /[^\p{Ll}\p{Lu}\p{Nd}\p{Cc}]/u].filter(re => re.test(v)).length;
    mark("classes", classes >= 3);
    mark("control", v !== "" && !/\p{Cc}/u.test(v));
  });
}

// The wizard's image field: the datalist is filled with the usable images that
// match what is typed, asked from the server (a tenant may use thousands; the
// page carries none of them).
function suggestImages(input, list) {
  if (!list || !input.dataset.suggest) return;
  let timer = 0, asked = null;
  const ask = async () => {
    const q = input.value.trim();
    if (q === asked) return;
    asked = q;
    try {
      const r = await fetch(input.dataset.suggest + "?q=" + encodeURIComponent(q), { credentials: "same-origin", cache: "no-store" });
      if (!r.ok || !(r.headers.get("Content-Type") || "").startsWith("application/json")) return;
      const options = (await r.json()).map(s => {
        const o = document.createElement("option");
        o.value = s.reference;
        o.textContent = s.label;
        return o;
      });
      if (asked === q) list.replaceChildren(...options);
    } catch (e) { /* the next keystroke asks again */ }
  };
  input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(ask, 150); });
  input.addEventListener("focus", ask);
}

// The image form: data disks only for a VM image.
function imageForm(form) {
  const set = form.querySelector("#datadisks");
  const show = () => { set.disabled = form.querySelector('input[name="type"]:checked').value !== "vm"; };
  form.querySelectorAll('input[name="type"]').forEach(r => r.addEventListener("change", show));
  show();
}

// A button with data-confirm-button stays disabled until the input with
// data-confirm holds exactly its value (a VM's name, before generalizing).
function typedConfirm(input) {
  const button = input.form.querySelector("[data-confirm-button]");
  const check = () => { button.disabled = input.value !== input.dataset.confirm; };
  input.addEventListener("input", check);
  check();
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-live]").forEach(live);
  const vmForm = document.getElementById("vmform");
  if (vmForm) vmWizard(vmForm);
  const imgForm = document.getElementById("imageform");
  if (imgForm) imageForm(imgForm);
  document.querySelectorAll("input[data-confirm]").forEach(typedConfirm);
  document.querySelectorAll("table.data:not([data-server-sort])").forEach(sortable);
  document.querySelectorAll("input[data-filter]").forEach(filterable);
  document.querySelectorAll("button[data-copy]").forEach(copyButton);
  document.querySelectorAll("pre[data-src]").forEach(tail);
});
