// The "engine unreachable" page checks the health endpoint every 3 s and reloads once
// the engine answers again (the dashboard itself may be restarting meanwhile).
const banner = document.getElementById("engine-down");
const healthz = banner && banner.dataset.healthzUrl;

function poll() {
  setTimeout(async () => {
    try {
      const r = await fetch(healthz, { cache: "no-store" });
      if ((await r.json()).engine.reachable) {
        location.reload();
        return;
      }
    } catch (e) {
      // not answering yet: try again
    }
    poll();
  }, 3000);
}

if (healthz) poll();
