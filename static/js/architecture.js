// Architecture page: clicking a container lights up its shim and its first process.
const columns = document.querySelectorAll(".arch-col[data-container]");
const buttons = document.querySelectorAll("[data-pick]");

function pick(id) {
  for (const col of columns) col.classList.toggle("lit", col.dataset.container === id);
  for (const btn of buttons) btn.classList.toggle("active", btn.dataset.pick === id);
}

for (const btn of buttons) btn.addEventListener("click", () => pick(btn.dataset.pick));
for (const col of columns) {
  col.addEventListener("click", (event) => {
    if (event.target.closest("a")) return; // the name links to the container's page
    pick(col.dataset.container);
  });
}
