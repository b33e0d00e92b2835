// The service worker of the route page ("Min rutt"), served as /my-route/sw.js with the scope
// /my-route. It keeps exactly one page on the phone: today's route of the staff member signed
// in, as the server last sent it (the server marks that page with X-Hemma-Offline:
// "<staff id>/<day>"), in a cache named for that staff member and day; and the static files
// the page needs. Nothing else is kept: other pages, the API, and every request that changes
// something go to the network only. A kept route of another day is deleted, never shown.
"use strict";

// A new version makes every phone fetch the static files again when the worker updates
// (2: the not-done report's reason code in offline.js).
const VERSION = "2";
const STATIC = `hemma-static-${VERSION}`;
const ROUTE = "hemma-route-"; // + "<staff>-<day>"
const MARK = "X-Hemma-Offline";
const KEPT_AT = "X-Hemma-Kept-At";
const OFFLINE_PAGE = "/my-route/offline";
const ASSETS = ["/static/hemma.css", "/static/hemma.js", "/static/offline.js",
                "/static/favicon.svg", "/static/route-icon.svg", OFFLINE_PAGE];
// A network slower than this counts as none: the kept page is shown.
const PATIENCE_MS = 8000;
// The pages this worker answered with the kept copy (they say so to the nurse).
const servedKept = new Set();
// Counts the times the phone was told to forget (logout). A keep that started before one
// never leaves its copy behind: its fetch may answer after the logout emptied the phone.
let forgotten = 0;

// The Swedish calendar day, as the server writes it (YYYY-MM-DD).
function today() {
  const parts = new Intl.DateTimeFormat("en-CA", {
    timeZone: "Europe/Stockholm", year: "numeric", month: "2-digit", day: "2-digit",
  }).formatToParts(new Date());
  const part = (type) => parts.find((p) => p.type === type).value;
  return `${part("year")}-${part("month")}-${part("day")}`;
}

function routeCaches(names) {
  return names.filter((name) => name.startsWith(ROUTE));
}

// A route kept for another day is deleted: on a later day nothing stale is shown.
async function forgetStale() {
  const suffix = `-${today()}`;
  const names = routeCaches(await caches.keys());
  await Promise.all(names.filter((n) => !n.endsWith(suffix)).map((n) => caches.delete(n)));
}

async function forgetRoutes() {
  await Promise.all(routeCaches(await caches.keys()).map((n) => caches.delete(n)));
}

async function forgetAll() {
  forgotten += 1;
  const names = await caches.keys();
  await Promise.all(names.filter((n) => n.startsWith("hemma-")).map((n) => caches.delete(n)));
}

async function keptRoute() {
  await forgetStale();
  for (const name of routeCaches(await caches.keys())) {
    const page = await (await caches.open(name)).match("/my-route");
    if (page) return page;
  }
  return null;
}

// Keep today's route page (one only: another staff member's or another day's goes).
// `since` is the count of forgets when the page was asked for.
async function keep(response, since) {
  if (since !== forgotten) return false;
  const mark = response.headers.get(MARK) || "";
  const [staff, day] = mark.split("/");
  if (!response.ok || !/^\d+$/.test(staff || "") || day !== today()) return false;
  const name = `${ROUTE}${staff}-${day}`;
  const others = routeCaches(await caches.keys()).filter((n) => n !== name);
  await Promise.all(others.map((n) => caches.delete(n)));
  const headers = new Headers(response.headers);
  headers.set(KEPT_AT, new Date().toISOString());
  const body = await response.blob();
  if (since !== forgotten) return false;
  await (await caches.open(name)).put("/my-route", new Response(body, {
    status: response.status, statusText: response.statusText, headers,
  }));
  if (since !== forgotten) {
    // Told to forget while this copy was being written: it goes too.
    await caches.delete(name);
    return false;
  }
  return true;
}

async function offlinePage() {
  return (await caches.match(OFFLINE_PAGE, { cacheName: STATIC })) || Response.error();
}

function signedOut(response) {
  // Nobody is signed in (the server sends the login page): nothing of the route stays.
  return response.type === "opaqueredirect"
    || (response.redirected && new URL(response.url).pathname === "/login");
}

async function routePage(event) {
  const asked = new URL(event.request.url).searchParams.get("day");
  const since = forgotten;
  const network = fetch(event.request).then(async (response) => {
    if (signedOut(response)) await forgetRoutes();
    else if (response.headers.has(MARK)) await keep(response.clone(), since);
    return response;
  });
  const fallback = async () => {
    // Only today's route is kept: another day's page is not on the phone.
    const page = asked && asked !== today() ? null : await keptRoute();
    if (page) servedKept.add(event.resultingClientId);
    return page;
  };
  let timer;
  const slow = new Promise((resolve) => { timer = setTimeout(resolve, PATIENCE_MS, null); });
  try {
    const first = await Promise.race([network, slow]);
    if (first) return first;
    const page = await fallback();
    if (page) {
      event.waitUntil(network.catch(() => null));
      return page;
    }
    return await network;
  } catch (error) {
    return (await fallback()) || offlinePage();
  } finally {
    clearTimeout(timer);
  }
}

// Static files: from the phone at once, refreshed from the network behind it.
async function asset(event) {
  const cache = await caches.open(STATIC);
  const hit = await cache.match(event.request, { ignoreSearch: true });
  const fresh = fetch(event.request).then((response) => {
    if (response.ok && response.type === "basic") {
      return cache.put(event.request, response.clone()).then(() => response);
    }
    return response;
  });
  if (hit) {
    event.waitUntil(fresh.catch(() => null));
    return hit;
  }
  return fresh;
}

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(STATIC)
    .then((cache) => cache.addAll(ASSETS.map((path) => new Request(path, { cache: "no-store" }))))
    .then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    const names = await caches.keys();
    await Promise.all(names.filter((n) => n.startsWith("hemma-static-") && n !== STATIC)
      .map((n) => caches.delete(n)));
    await forgetStale();
    await self.clients.claim();
  })());
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || request.method !== "GET") return;
  if (request.mode === "navigate" && url.pathname === "/my-route") {
    event.respondWith(routePage(event));
  } else if (url.pathname.startsWith("/static/") || url.pathname === OFFLINE_PAGE) {
    event.respondWith(asset(event));
  }
  // Everything else (the API, /my-route/version, other pages): the network, never kept.
});

// The route page asks: keep me now (it was opened before this worker controlled it, or its
// reports were just sent), forget everything (logout), or was I shown from the phone?
self.addEventListener("message", (event) => {
  const reply = (answer) => { if (event.ports[0]) event.ports[0].postMessage(answer); };
  const kind = event.data && event.data.type;
  if (kind === "keep") {
    event.waitUntil((async () => {
      try {
        const since = forgotten;
        const response = await fetch("/my-route", { credentials: "same-origin", cache: "no-store" });
        if (signedOut(response)) {
          await forgetRoutes();
          reply({ kept: false });
        } else {
          reply({ kept: await keep(response, since) });
        }
      } catch (error) {
        reply({ kept: false });
      }
    })());
  } else if (kind === "status") {
    event.waitUntil((async () => {
      const page = await keptRoute();
      reply({
        kept: Boolean(page),
        keptAt: page ? page.headers.get(KEPT_AT) : null,
        fromPhone: Boolean(event.source && servedKept.has(event.source.id)),
      });
    })());
  } else if (kind === "forget") {
    event.waitUntil((async () => {
      await forgetAll();
      reply({ forgotten: true });
    })());
  }
});
