// A form sent back with errors: its error summary has the focus (the `autofocus` attribute
// does it without JavaScript; this covers a browser that skipped it), and a link of the
// summary moves the focus to the field it names, with the field's label in view, instead of
// only scrolling to it.
(() => {
  const summary = document.querySelector("[data-error-summary]");
  if (!summary) return;
  if (document.activeElement === document.body || document.activeElement === null) {
    summary.focus();
  }
  summary.addEventListener("click", (event) => {
    const link = event.target.closest("a[href^='#']");
    if (!link) return;
    const target = document.getElementById(decodeURIComponent(link.hash.slice(1)));
    if (!target) return;
    event.preventDefault();
    const label = target.id && document.querySelector(`label[for="${CSS.escape(target.id)}"]`);
    (label || target).scrollIntoView({ block: "center" });
    // The card fields are the gateway's (in its frame): it focuses its first field to correct.
    if ("cardFields" in target.dataset && window.cardFields && window.cardFields.focus) {
      window.cardFields.focus();
    } else {
      target.focus({ preventScroll: true });
    }
  });
})();
