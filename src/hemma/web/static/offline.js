// The route page without coverage ("Min rutt"). On the route page: the service worker
// (/my-route/sw.js) keeps today's route on the phone; visit reports are queued on the phone
// (IndexedDB) when there is no coverage, each with a client id made once, and sent in order
// when the phone is back online (a resend changes nothing on the server). On every page:
// nothing of the route stays after logout (reports still waiting are never dropped
// silently: the route page asks first), after a login, or on a later day.
// Where the browser lacks any of it (no secure context), the page's forms work as before.
"use strict";
(() => {
  const DB_NAME = "hemma-offline";
  const STORE = "reports";
  const ROUTE_CACHES = "hemma-route-";
  const supported = window.isSecureContext && "indexedDB" in window && "caches" in window
    && "serviceWorker" in navigator && window.crypto && typeof crypto.randomUUID === "function";
  if (!supported) return;

  // --- Storage -------------------------------------------------------------------------

  function today() {
    const parts = new Intl.DateTimeFormat("en-CA", {
      timeZone: "Europe/Stockholm", year: "numeric", month: "2-digit", day: "2-digit",
    }).formatToParts(new Date());
    const part = (type) => parts.find((p) => p.type === type).value;
    return `${part("year")}-${part("month")}-${part("day")}`;
  }

  function request(req) {
    return new Promise((resolve, reject) => {
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
  }

  function openDb() {
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => {
      req.result.createObjectStore(STORE, { keyPath: "seq", autoIncrement: true });
    };
    return request(req);
  }

  async function withStore(mode, work) {
    const db = await openDb();
    try {
      const tx = db.transaction(STORE, mode);
      const result = await work(tx.objectStore(STORE));
      await new Promise((resolve, reject) => {
        tx.oncomplete = resolve;
        tx.onerror = tx.onabort = () => reject(tx.error);
      });
      return result;
    } finally {
      db.close();
    }
  }

  const allEntries = () => withStore("readonly", (s) => request(s.getAll()));
  const addEntry = (entry) => withStore("readwrite", (s) => request(s.add(entry)));
  const putEntry = (entry) => withStore("readwrite", (s) => request(s.put(entry)));
  const removeEntry = (seq) => withStore("readwrite", (s) => request(s.delete(seq)));

  // Does the queue exist at all? (Pages that never queued anything do not create it.)
  async function queueExists() {
    if (!indexedDB.databases) return true;
    return (await indexedDB.databases()).some((d) => d.name === DB_NAME);
  }

  async function unsent() {
    if (!(await queueExists())) return [];
    return (await allEntries()).filter((e) => e.state !== "sent");
  }

  async function forgetRoutes(which = () => true) {
    const names = (await caches.keys()).filter((n) => n.startsWith(ROUTE_CACHES) && which(n));
    await Promise.all(names.map((n) => caches.delete(n)));
  }

  // Everything this app keeps on the phone: the kept route and files, the queue, the worker.
  async function forgetEverything() {
    // The worker first: a route it is keeping right now is not written back afterwards.
    const worker = navigator.serviceWorker.controller;
    if (worker) {
      await new Promise((resolve) => {
        const channel = new MessageChannel();
        channel.port1.onmessage = resolve;
        worker.postMessage({ type: "forget" }, [channel.port2]);
        setTimeout(resolve, 2000);
      });
    }
    const names = (await caches.keys()).filter((n) => n.startsWith("hemma-"));
    await Promise.all(names.map((n) => caches.delete(n)));
    await new Promise((resolve) => {
      const req = indexedDB.deleteDatabase(DB_NAME);
      req.onsuccess = req.onerror = req.onblocked = resolve;
    });
    const registrations = await navigator.serviceWorker.getRegistrations();
    await Promise.all(registrations.map((r) => r.unregister()));
  }

  // --- Every page ------------------------------------------------------------------------

  document.addEventListener("DOMContentLoaded", () => {
    // A kept route of another day goes, whichever page is open.
    forgetRoutes((name) => !name.endsWith(`-${today()}`)).catch(() => null);
    // The login page: nobody is signed in, so nobody's route stays (the next person to log
    // in on this phone may be someone else). Reports waiting stay for their sender.
    if (document.querySelector('form[action="/login"]')) forgetRoutes().catch(() => null);
    // Logout: reports still waiting are not dropped silently: the route page asks first.
    document.querySelectorAll('form[action="/logout"]').forEach((form) => {
      form.addEventListener("submit", async (event) => {
        if (form.dataset.cleared) return;
        event.preventDefault();
        try {
          if ((await unsent()).length) {
            if (document.querySelector('a[href="/my-route"]')) {
              // The route page shows them: send them, or discard them on purpose.
              window.location.assign("/my-route?logout=1#offline-queue");
              return;
            }
            // Someone without a route of their own (another user's reports wait here).
            const text = document.documentElement.lang === "en"
              ? "Reports not yet sent are waiting on this phone. They are removed if you log out. Log out anyway?"
              : "Rapporter som inte har skickats väntar i telefonen. De tas bort om du loggar ut. Logga ut ändå?";
            if (!window.confirm(text)) return;
          }
          await forgetEverything();
        } catch (error) { /* the server's Clear-Site-Data still empties the phone */ }
        form.dataset.cleared = "1";
        form.submit();
      });
    });
    const route = document.getElementById("my-route");
    if (route) routePage(route);
  });

  // --- The route page --------------------------------------------------------------------

  function routePage(route) {
    const texts = JSON.parse(document.getElementById("offline-texts").textContent);
    const staff = route.dataset.staff;
    const lang = document.documentElement.lang || "sv";
    const panel = document.getElementById("offline-queue");
    const list = document.getElementById("offline-list");
    const status = document.getElementById("offline-status");
    const others = document.getElementById("offline-others");
    const login = document.getElementById("offline-login");
    const logoutWarning = document.getElementById("offline-logout");
    const sendButton = document.getElementById("offline-send");
    const kept = document.getElementById("offline-kept");
    const shown = document.getElementById("offline-shown");
    const askedToLogOut = new URLSearchParams(window.location.search).has("logout");
    let needsLogin = false;
    let sending = null;

    const clock = (iso) => new Date(iso).toLocaleTimeString(lang === "en" ? "en-GB" : "sv-SE", {
      hour: "2-digit", minute: "2-digit", timeZone: "Europe/Stockholm",
    });
    const fill = (text, values) => text.replace(/\{(\w+)\}/g, (m, k) => (k in values ? values[k] : m));
    const csrf = () => {
      const input = document.querySelector("input[name=csrf_token]");
      return input ? input.value : "";
    };

    // The worker: registered for the route page only.
    const worker = navigator.serviceWorker;
    const ask = (message) => new Promise((resolve) => {
      if (!worker.controller) { resolve(null); return; }
      const channel = new MessageChannel();
      channel.port1.onmessage = (event) => resolve(event.data);
      worker.controller.postMessage(message, [channel.port2]);
    });
    const showKept = (answer) => {
      if (!answer || !answer.kept) return;
      kept.hidden = false;
      if (answer.fromPhone && answer.keptAt) {
        shown.textContent = fill(texts.shown, { time: clock(answer.keptAt) });
        shown.hidden = false;
      }
    };
    const controlled = Boolean(worker.controller);
    worker.register("/my-route/sw.js", { scope: "/my-route" }).catch(() => null);
    if (controlled) {
      ask({ type: "status" }).then(showKept);
    } else {
      // Opened before the worker controlled it: have it keep this page now.
      worker.addEventListener("controllerchange", () => {
        ask({ type: "keep" }).then(showKept);
      }, { once: true });
    }

    // --- What is waiting, shown on the page ---

    function visitItem(id) {
      return route.querySelector(`li[data-visit="${CSS.escape(id)}"]`);
    }

    // A report waiting on the phone shows on its visit as if made: its state, and the
    // actions that no longer apply hidden.
    function markVisit(entry) {
      const item = visitItem(entry.visit_id);
      if (!item || entry.day !== route.dataset.day) return;
      const state = item.querySelector(".state");
      if (state && entry.state !== "failed") {
        state.className = `state state-${entry.body.status}`;
        state.textContent = texts.status[entry.body.status];
      }
      let note = item.querySelector(".queued-note");
      if (!note) {
        note = document.createElement("p");
        note.className = "queued-note";
        const when = item.querySelector(".when");
        if (when) when.after(note);
        else item.append(note);
      }
      note.textContent = entry.state === "sent" ? fill(texts.sent_at, { time: clock(entry.sent_at) })
        : entry.state === "failed" ? texts.not_sent : texts.queued;
      note.dataset.state = entry.state;
      const actions = item.querySelector(".visit-actions");
      if (actions && entry.state !== "failed") {
        if (entry.body.status === "started") {
          const start = actions.querySelector('input[name=status][value=started]');
          if (start) start.form.hidden = true;
        } else {
          actions.hidden = true;
        }
      }
    }

    function describe(entry) {
      const why = entry.body.reason_code && texts.not_done_codes[entry.body.reason_code];
      return `${entry.patient} · ${texts.status[entry.body.status]}${why ? ` (${why})` : ""}`
        + ` ${clock(entry.body.at)}`;
    }

    async function render() {
      const entries = (await queueExists()) ? await allEntries() : [];
      const mine = entries.filter((e) => e.staff === staff);
      const waiting = mine.filter((e) => e.state === "waiting");
      const failed = mine.filter((e) => e.state === "failed");
      const sent = mine.filter((e) => e.state === "sent");
      const foreign = entries.filter((e) => e.staff !== staff && e.state !== "sent");
      list.replaceChildren();
      for (const entry of [...failed, ...waiting, ...sent]) {
        const li = document.createElement("li");
        li.className = `queued queued-${entry.state}`;
        const what = document.createElement("span");
        what.textContent = describe(entry);
        const state = document.createElement("strong");
        state.textContent = entry.state === "sent" ? fill(texts.sent_at, { time: clock(entry.sent_at) })
          : entry.state === "failed" ? texts.not_sent : texts.waiting;
        li.append(state, " ", what);
        if (entry.state === "failed") {
          const why = document.createElement("p");
          why.className = "field-error";
          why.textContent = entry.error;
          const remove = document.createElement("button");
          remove.type = "button";
          remove.className = "link";
          remove.textContent = texts.remove;
          remove.addEventListener("click", async () => { await removeEntry(entry.seq); render(); });
          li.append(why, remove);
        }
        list.append(li);
        markVisit(entry);
      }
      status.textContent = waiting.length === 1 ? texts.waiting_one
        : waiting.length > 1 ? fill(texts.waiting_many, { count: waiting.length })
          : mine.length ? texts.all_sent : "";
      others.hidden = !foreign.length;
      others.textContent = fill(texts.others, { count: foreign.length });
      login.hidden = !(needsLogin && waiting.length);
      sendButton.hidden = !waiting.length;
      logoutWarning.hidden = !(askedToLogOut && (waiting.length || failed.length || foreign.length));
      const loggingOut = document.getElementById("offline-logout-done");
      loggingOut.hidden = !(askedToLogOut && !waiting.length && !failed.length && !foreign.length);
      panel.hidden = !(mine.length || foreign.length || askedToLogOut);
    }

    // --- Sending, in order ---

    async function freshToken() {
      // The page may be the copy kept from an earlier session: ask the server for this one's.
      const response = await fetch(`/my-route?day=${encodeURIComponent(route.dataset.day)}`,
                                   { credentials: "same-origin", cache: "no-store" });
      if (response.redirected || !response.ok) return null;
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const input = page.querySelector("input[name=csrf_token]");
      return input ? input.value : null;
    }

    const REPORT_URL = /^\/api\/v1\/patients\/[0-9a-f-]{36}\/visits\/[0-9a-f-]{36}\/report$/;

    // A network that does not answer within this counts as none: the report waits (if it
    // did arrive, sending it again changes nothing).
    const PATIENCE_MS = 12000;

    async function post(entry, token) {
      return fetch(entry.url, {
        method: "POST", credentials: "same-origin", cache: "no-store",
        signal: AbortSignal.timeout ? AbortSignal.timeout(PATIENCE_MS) : undefined,
        headers: { "Content-Type": "application/json", "X-CSRF-Token": token,
                   "Accept-Language": lang },
        body: JSON.stringify(entry.body),
      });
    }

    async function problem(response) {
      try {
        const body = await response.json();
        const fields = (body.errors || []).filter((e) => e.message).map((e) => e.message);
        return { text: [body.detail, ...fields].filter(Boolean).join(" "), errors: body.errors || [] };
      } catch (error) {
        return { text: `${response.status} ${response.statusText}`, errors: [] };
      }
    }

    // One report: "sent", "failed" (the server refused it: shown, never sent again),
    // "wait" (no coverage, the server busy, or the nurse must log in again: kept, in order).
    async function sendOne(entry, state) {
      if (!REPORT_URL.test(entry.url)) {
        entry.state = "failed";
        entry.error = texts.not_sent;
        return { outcome: "failed", errors: [] };
      }
      let response;
      try {
        response = await post(entry, state.token);
        if (response.status === 403 && !state.renewed) {
          state.renewed = true;
          const token = await freshToken();
          if (token === null) { needsLogin = true; return { outcome: "wait" }; }
          state.token = token;
          response = await post(entry, token);
        }
      } catch (error) {
        return { outcome: "wait" };
      }
      if (response.ok) {
        entry.state = "sent";
        entry.sent_at = new Date().toISOString();
        return { outcome: "sent" };
      }
      if (response.status === 401) {
        needsLogin = true;
        return { outcome: "wait" };
      }
      if (response.status === 408 || response.status === 429 || response.status >= 500) {
        return { outcome: "wait" };
      }
      const why = await problem(response);
      entry.state = "failed";
      entry.error = why.text;
      return { outcome: "failed", errors: why.errors };
    }

    async function sendWaiting(onEach) {
      if (!(await queueExists())) return;
      const state = { token: csrf(), renewed: false };
      const entries = (await allEntries())
        .filter((e) => e.staff === staff && e.state === "waiting")
        .sort((a, b) => a.seq - b.seq);
      let sentAny = false;
      for (const entry of entries) {
        const result = await sendOne(entry, state);
        if (result.outcome === "wait") break;
        sentAny = sentAny || result.outcome === "sent";
        if (onEach && onEach(entry, result)) continue;
        await putEntry(entry);
      }
      if (sentAny) ask({ type: "keep" }).then(showKept);
    }

    // One sender at a time (two tabs, the online event and a click): resends would be
    // harmless, but the order is kept this way.
    function sendAll(onEach) {
      if (sending) return sending.then(() => sendAll(onEach));
      needsLogin = false;
      const run = () => sendWaiting(onEach);
      const locked = navigator.locks ? navigator.locks.request("hemma-offline-send", run) : run();
      sending = locked.catch(() => null).then(() => { sending = null; return render(); });
      return sending;
    }

    // --- The report forms ---

    function fieldLabel(form, name) {
      const input = form.querySelector(`[name="${CSS.escape(name)}"]`);
      const labelEl = input && input.id && form.querySelector(`label[for="${CSS.escape(input.id)}"]`);
      return labelEl ? labelEl.textContent.trim() : "";
    }

    function showErrors(form, errors, detail) {
      form.querySelectorAll(".error-summary.offline").forEach((el) => el.remove());
      const box = document.createElement("div");
      box.className = "error-summary offline";
      box.setAttribute("role", "alert");
      const head = document.createElement("p");
      const strong = document.createElement("strong");
      strong.textContent = texts.nothing_saved;
      head.append(strong);
      const ul = document.createElement("ul");
      const named = errors.length ? errors : [{ field: "", message: detail }];
      for (const error of named) {
        const name = (error.field || "").replace(/^values\./, "");
        const labelText = name ? fieldLabel(form, name) : "";
        const li = document.createElement("li");
        li.textContent = labelText ? `${labelText}: ${error.message}` : error.message;
        ul.append(li);
        const input = name && form.querySelector(`[name="${CSS.escape(name)}"]`);
        if (input) input.setAttribute("aria-invalid", "true");
      }
      box.append(head, ul);
      form.prepend(box);
      box.scrollIntoView({ block: "nearest" });
    }

    function entryFrom(form) {
      const data = new FormData(form);
      const [, patientId, , visitId] = new URL(form.action).pathname.split("/").filter(Boolean);
      const body = { status: data.get("status"), client_id: crypto.randomUUID(),
                     at: new Date().toISOString() };
      for (const key of ["reason_code", "reason", "note"]) {
        const value = (data.get(key) || "").trim();
        if (value) body[key] = value;
      }
      const values = {};
      for (const [key, raw] of data.entries()) {
        const value = typeof raw === "string" ? raw.trim() : "";
        if (!value || ["csrf_token", "status", "reason_code", "reason", "note",
                       "client_id"].includes(key)) continue;
        values[key] = key === "on_oxygen" ? value === "true" : value;
      }
      if (body.status === "done" && Object.keys(values).length) body.values = values;
      const item = form.closest("li.visit");
      const name = item && item.querySelector("h2");
      return {
        staff, day: route.dataset.day, visit_id: visitId, patient_id: patientId,
        url: `/api/v1/patients/${patientId}/visits/${visitId}/report`,
        patient: name ? name.firstChild.textContent.trim() : "",
        body, state: "waiting", created_at: body.at,
      };
    }

    route.querySelectorAll('form[action$="/report"]').forEach((form) => {
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const entry = entryFrom(form);
        const item = form.closest("li.visit");
        const actions = item.querySelector(".visit-actions");
        const stateEl = item.querySelector(".state");
        const shown = stateEl && { className: stateEl.className, text: stateEl.textContent };
        // Nothing more to tap on this visit until it is settled (at once, before waiting).
        actions.hidden = true;
        // On the phone first: nothing typed is lost, whatever the network does.
        entry.seq = await addEntry(entry);
        let answer = null;
        await sendAll((sent, result) => {
          if (sent.seq !== entry.seq) return false;
          answer = result;
          return true; // settled here, not kept in the list
        });
        if (answer && answer.outcome === "sent") {
          await removeEntry(entry.seq);
          window.location.assign(`/my-route?day=${encodeURIComponent(entry.day)}`
            + `&done=visit_${entry.body.status}#visit-${entry.visit_id}`);
          return;
        }
        if (answer && answer.outcome === "failed") {
          // Refused while the nurse is still here: the form says why; nothing was saved, and
          // nothing waits on the phone: the visit shows as it was, the list without it.
          await removeEntry(entry.seq);
          if (stateEl) {
            stateEl.className = shown.className;
            stateEl.textContent = shown.text;
          }
          item.querySelectorAll(".queued-note").forEach((note) => note.remove());
          actions.querySelectorAll("form").forEach((f) => { f.hidden = false; });
          await render();
          actions.hidden = false;
          const details = form.closest("details");
          if (details) details.open = true;
          showErrors(form, answer.errors || [], entry.error);
          return;
        }
        // Waiting: on the phone, sent when there is coverage again (the page shows the visit
        // as reported, with only what may still follow).
        const details = form.closest("details");
        if (details) details.open = false;
        actions.hidden = false;
        await render();
      });
    });

    sendButton.addEventListener("click", () => sendAll());
    document.getElementById("offline-logout-now").addEventListener("click", () => {
      document.querySelector('form[action="/logout"]').requestSubmit();
    });
    document.getElementById("offline-discard").addEventListener("click", (event) => {
      // After the page's "are you sure?" (hemma.js), whichever listener runs first.
      window.setTimeout(async () => {
        if (event.defaultPrevented) return;
        await forgetEverything().catch(() => null);
        const form = document.querySelector('form[action="/logout"]');
        form.dataset.cleared = "1";
        form.submit();
      }, 0);
    });
    window.addEventListener("online", () => sendAll());
    // Sent entries of an earlier day are history: they go.
    const cleanup = async () => {
      if (!(await queueExists())) return;
      for (const e of await allEntries()) {
        if (e.state === "sent" && e.day !== today()) await removeEntry(e.seq);
      }
    };
    cleanup().then(render).then(() => sendAll()).catch(() => null);
    // Coverage that comes back without an "online" event: a phone with a signal but no data
    // says it is online all along. Trying costs nothing while nothing waits.
    window.setInterval(() => sendAll(), 30000);
  }
})();
