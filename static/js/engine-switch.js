// The header's engine switcher: choosing an engine opens this section on it.
const form = document.querySelector("[data-engine-switch]");
form?.querySelector("select")?.addEventListener("change", () => form.submit());
