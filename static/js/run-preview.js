// The create form: as the user types, ask the server (the same parser as the submit)
// for the equivalent `docker run` line and show each field's problem next to it.
import "./live-list.js";

const form = document.getElementById("create-form");
const output = document.getElementById("docker-run-command");
let timer = null;
let sequence = 0;
// A field's problem shows once the user has typed in it (or after a submit, from the server).
const touched = new Set();

async function preview() {
  const mine = ++sequence;
  const response = await fetch(form.dataset.previewUrl, {
    method: "POST",
    body: new FormData(form),
    headers: { "X-CSRFToken": form.querySelector("[name=csrfmiddlewaretoken]").value },
    credentials: "same-origin",
  });
  if (!response.ok || mine !== sequence) return;
  const { command, errors } = await response.json();
  const shown = Object.keys(errors).filter((name) => touched.has(name) || name === "__all__");
  output.textContent =
    command ||
    (shown.length
      ? "(fix the fields marked in red to see the command)"
      : "(choose an image to see the command)");
  output.classList.toggle("muted", !command);
  for (const span of form.querySelectorAll("[data-error-for]")) {
    if (!touched.has(span.dataset.errorFor) && span.dataset.errorFor !== "__all__") continue;
    const message = errors[span.dataset.errorFor] || "";
    span.textContent = message;
    span.closest(".field")?.classList.toggle("has-error", Boolean(message));
  }
}

form.addEventListener("input", (e) => {
  touched.add(e.target.name === "tag" ? "image" : e.target.name);
  clearTimeout(timer);
  timer = setTimeout(preview, 150);
});
preview();
