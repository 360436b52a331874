// The header's engine switcher: choosing an engine opens it at once (the Go button is
// for pages without scripts).
const form = document.querySelector("[data-engine-switch]");
if (form) {
  form.querySelector("[data-engine-go]").hidden = true;
  form.querySelector("select").addEventListener("change", () => form.submit());
}
