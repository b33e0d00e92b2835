// The live alert inbox: server-sent events add and update rows without a reload.
// Everything a patient or colleague wrote is set as text, never as markup.
"use strict";
(function () {
  const table = document.getElementById("inbox");
  if (!table || !window.EventSource) return;
  const tbody = table.querySelector("tbody");
  const status = document.getElementById("live-status");
  const banner = document.getElementById("new-alert");
  const t = (key) => table.dataset["t" + key.charAt(0).toUpperCase() + key.slice(1)] || key;

  function cell(label, ...children) {
    const td = document.createElement("td");
    td.dataset.label = label;
    const div = document.createElement("div");
    children.forEach((c) => div.append(c));
    td.append(div);
    return td;
  }

  function acknowledgeForm(event) {
    const form = document.createElement("form");
    form.method = "post";
    form.action = `/patients/${encodeURIComponent(event.patient_id)}/alerts/${encodeURIComponent(event.id)}/acknowledge`;
    form.className = "inline";
    const csrf = document.createElement("input");
    csrf.type = "hidden"; csrf.name = "csrf_token"; csrf.value = table.dataset.csrf;
    const back = document.createElement("input");
    back.type = "hidden"; back.name = "back"; back.value = "/alerts";
    const button = document.createElement("button");
    button.type = "submit"; button.className = "primary"; button.textContent = t("acknowledge");
    form.append(csrf, back, button);
    return form;
  }

  function render(event) {
    const row = document.createElement("tr");
    row.className = `alert-row row-sev-${event.severity} status-${event.status} fresh`;
    row.dataset.alert = event.id;
    const sev = document.createElement("span");
    sev.className = `sev sev-${event.severity}`;
    sev.textContent = event.severity_label;
    const link = document.createElement("a");
    link.href = `/patients/${encodeURIComponent(event.patient_id)}`;
    link.textContent = event.patient;
    const reasons = document.createElement("ul");
    reasons.className = "reasons";
    event.reasons.forEach((r) => { const li = document.createElement("li"); li.textContent = r; reasons.append(li); });
    const actions = document.createElement("td");
    actions.dataset.label = "";
    if (table.dataset.mayHandle === "yes" && event.status === "open") actions.append(acknowledgeForm(event));
    row.append(cell("", sev), cell("", link), cell("", event.kind, reasons), cell("", event.time),
      cell("", t(event.status)), actions);
    row.querySelectorAll("td")[4].className = "status";
    return row;
  }

  function apply(event) {
    const existing = tbody.querySelector(`tr[data-alert="${CSS.escape(event.id)}"]`);
    if (event.status === "resolved") { if (existing) existing.remove(); }
    else if (existing) { existing.replaceWith(render(event)); }
    else {
      tbody.prepend(render(event));
      banner.textContent = `${t("new")}: ${event.patient} – ${event.reasons.join(", ")}`;
      banner.hidden = false;
    }
    const empty = tbody.querySelector(".empty-row");
    if (empty) empty.hidden = tbody.querySelectorAll(".alert-row").length > 0;
  }

  const source = new EventSource(table.dataset.stream);
  source.addEventListener("open", () => { status.textContent = status.dataset.on; status.classList.add("on"); });
  source.addEventListener("error", () => { status.textContent = status.dataset.off; status.classList.remove("on"); });
  source.addEventListener("alert", (message) => apply(JSON.parse(message.data)));
})();
