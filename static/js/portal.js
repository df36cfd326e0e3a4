// Clicking anywhere on an item's row does what its link does (htmx expands it in place;
// without JavaScript the link itself reloads the page with the item expanded).
document.addEventListener("click", (event) => {
  const row = event.target.closest("tr[data-row-link]");
  if (!row || event.target.closest("a, button, input, select, textarea")) return;
  const link = row.querySelector("a[href]");
  if (link) link.click();
});
