// The passwords of a roster import, shown once: download them as CSV or print the sheet.
// Built in the browser from the table, so the server keeps no copy to send again.

function csvCell(text) {
  return /[",\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function tableCsv(table) {
  const rows = [...table.querySelectorAll("tr")].map((tr) =>
    [...tr.children].map((cell) => csvCell(cell.textContent.trim())).join(","),
  );
  return rows.join("\n") + "\n";
}

document.addEventListener("click", (event) => {
  const download = event.target.closest("[data-passwords-csv]");
  if (download) {
    const table = document.querySelector("table[data-created]");
    const blob = new Blob([tableCsv(table)], { type: "text/csv" });
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = download.dataset.passwordsCsv;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  }
  if (event.target.closest("[data-print]")) window.print();
});
