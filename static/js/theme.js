// Light/dark choice, remembered per browser; "auto" follows the system setting.
(function () {
  const root = document.documentElement;
  const saved = localStorage.getItem("dockdash-theme");
  if (saved) root.dataset.theme = saved;
  document.addEventListener("DOMContentLoaded", function () {
    const button = document.getElementById("theme-toggle");
    if (!button) return;
    button.addEventListener("click", function () {
      const dark = root.dataset.theme === "dark" ||
        (root.dataset.theme === "auto" && matchMedia("(prefers-color-scheme: dark)").matches);
      root.dataset.theme = dark ? "light" : "dark";
      localStorage.setItem("dockdash-theme", root.dataset.theme);
    });
  });
})();
