// The sandbox adapter's side of its card fields: the fields live in the sandbox processor's
// frame; asked for a token, the frame checks them, makes a single-use token with the
// processor and posts it back. Only the token ever reaches this page.
(() => {
  const frame = document.getElementById("card-fields-frame");
  if (!frame) return;
  let pending = null;

  window.addEventListener("message", (event) => {
    if (event.origin !== window.location.origin || event.source !== frame.contentWindow) return;
    const data = event.data || {};
    if (!pending || (data.type !== "bp:token" && data.type !== "bp:invalid")) return;
    const resolve = pending;
    pending = null;
    resolve(data.type === "bp:token" ? data.token : null);
  });

  window.cardFields = {
    tokenize() {
      if (pending) return Promise.resolve(null);
      return new Promise((resolve) => {
        pending = resolve;
        frame.contentWindow.postMessage({ type: "bp:tokenize" }, window.location.origin);
      });
    },
  };
})();
