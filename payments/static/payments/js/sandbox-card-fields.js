// The sandbox adapter's side of its card fields: the fields live in the sandbox processor's
// frame; asked for a token, the frame checks them, makes a single-use token with the
// processor and posts it back. Only the token ever reaches this page. The frame also says
// how tall it is (the page sizes it, so its errors never sit out of sight) and when Enter
// was pressed in a field (the page sends its form, as the form's card button would).
(() => {
  const frame = document.getElementById("card-fields-frame");
  if (!frame) return;
  // The processor's origin (this portal's, for the sandbox): messages go there only, and
  // only its frame's are heard.
  const frameOrigin = new URL(frame.src, window.location.href).origin;
  const form = frame.closest("form");
  let pending = null;

  const submitForm = () => {
    if (!form) return;
    const button = form.querySelector("[data-card-submit]");
    if (button) form.requestSubmit(button);
    else form.requestSubmit();
  };

  window.addEventListener("message", (event) => {
    if (event.origin !== frameOrigin || event.source !== frame.contentWindow) return;
    const data = event.data || {};
    if (data.type === "bp:height") {
      const height = Number(data.height);
      // A frame can only ask for a sensible size.
      if (Number.isFinite(height) && height > 0 && height < 2000) {
        frame.style.height = `${Math.ceil(height)}px`;
      }
      return;
    }
    if (data.type === "bp:submit") {
      submitForm();
      return;
    }
    if (!pending || (data.type !== "bp:token" && data.type !== "bp:invalid")) return;
    const resolve = pending;
    pending = null;
    resolve(data.type === "bp:token" ? data.token : null);
  });

  // The frame may have said its height before this script listened: ask again.
  const measure = () => frame.contentWindow.postMessage({ type: "bp:measure" }, frameOrigin);
  frame.addEventListener("load", measure);
  measure();

  window.cardFields = {
    tokenize() {
      if (pending) return Promise.resolve(null);
      return new Promise((resolve) => {
        pending = resolve;
        frame.contentWindow.postMessage({ type: "bp:tokenize" }, frameOrigin);
      });
    },
    focus() {
      frame.focus();
      frame.contentWindow.postMessage({ type: "bp:focus" }, frameOrigin);
    },
  };
})();
