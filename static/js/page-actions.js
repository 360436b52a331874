// Small behaviours declared in the markup with data-* attributes, in place of inline
// handlers (onsubmit=, href="javascript:"), which the Content-Security-Policy forbids.
//   <form data-confirm-submit="Question?">  asks before it submits
//   <a href="/" data-history-back>          goes back a page (the href is the fallback)
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
});
