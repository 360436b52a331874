// Small behaviours declared in the markup with data-* attributes, in place of inline
// handlers (onsubmit=, href="javascript:"), which the Content-Security-Policy forbids.
//   <form data-confirm-submit="Question?">  asks before it submits
//   <a href="/" data-history-back>          goes back a page (the href is the fallback)
//   <button class="copy-button" data-copy-target="#id">  copies the text of #id
document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-confirm-submit]");
  if (form && !confirm(form.dataset.confirmSubmit)) event.preventDefault();
});

document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-history-back]");
  if (link && history.length > 1) {
    event.preventDefault();
    history.back();
  }
  const copy = event.target.closest(".copy-button");
  if (copy) {
    const source = document.querySelector(copy.dataset.copyTarget);
    // Served over plain http (not localhost), a page has no clipboard: select the text instead.
    const copied = navigator.clipboard ? navigator.clipboard.writeText(source.textContent) : Promise.reject();
    copied.then(
      () => { copy.textContent = "Copied"; setTimeout(() => { copy.textContent = "Copy"; }, 1500); },
      () => { window.getSelection().selectAllChildren(source); copy.textContent = "Selected: press Ctrl+C"; },
    );
  }
});
