// Several engines: this tab stays on the engine its page was drawn for, whatever another tab
// of the same session chose since. Every request the page makes to this dashboard (links,
// forms, fetch, htmx, websockets) names that engine, unless it names one itself; the
// header's switcher opens the same section on the engine picked.
(() => {
  const chosen = document.querySelector('meta[name="dockdash-engine"]')?.content;
  if (!chosen) return;
  const scoped = (url) => {
    const u = new URL(url, location.href);
    if (u.host === location.host && !u.searchParams.has("engine")) u.searchParams.set("engine", chosen);
    return u.href;
  };
  const nativeFetch = window.fetch;
  window.fetch = (input, init) =>
    nativeFetch(typeof input === "string" || input instanceof URL ? scoped(input) : input, init);
  const NativeSocket = window.WebSocket;
  window.WebSocket = class extends NativeSocket {
    constructor(url, protocols) { super(scoped(url), protocols); }
  };
  document.addEventListener("htmx:configRequest", (e) => {
    const u = new URL(scoped(e.detail.path));
    e.detail.path = u.pathname + u.search;
  });
  document.addEventListener("click", (e) => {
    const link = e.target instanceof Element ? e.target.closest("a[href]") : null;
    if (link && !link.getAttribute("href").startsWith("#")) link.href = scoped(link.href);
  }, true);
  document.addEventListener("submit", (e) => {
    const form = e.target;
    if (!(form instanceof HTMLFormElement) || form.elements.namedItem("engine")) return;
    if (form.method.toLowerCase() === "get") {
      const field = Object.assign(document.createElement("input"), { type: "hidden", name: "engine", value: chosen });
      form.append(field);
    } else {
      form.action = scoped(form.action);
    }
  }, true);
  document.addEventListener("DOMContentLoaded", () => {
    const form = document.querySelector("[data-engine-switch]");
    form?.querySelector("select")?.addEventListener("change", () => form.submit());
  });
})();
