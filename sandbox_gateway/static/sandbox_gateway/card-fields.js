// The sandbox processor's card fields. They live in their own frame: the portal's page
// never sees the card number or security code, only the single-use token posted back.
(() => {
  const script = document.currentScript;
  const tokensUrl = script.dataset.tokensUrl;
  const messages = JSON.parse(document.getElementById("messages").textContent);
  const form = document.getElementById("card-fields");
  const field = (name) => form.elements.namedItem(name);

  const digits = (value) => value.replace(/\D/g, "");
  const luhn = (number) => {
    if (number.length < 12 || number.length > 19) return false;
    let sum = 0;
    [...number].reverse().forEach((ch, i) => {
      let d = Number(ch);
      if (i % 2) { d *= 2; if (d > 9) d -= 9; }
      sum += d;
    });
    return sum % 10 === 0;
  };
  const isAmex = (number) => /^3[47]/.test(number);
  const parseExpiry = (value) => {
    const match = value.replace(/\s/g, "").match(/^(\d{1,2})\/?(\d{2}|\d{4})$/);
    if (!match) return null;
    const month = Number(match[1]);
    let year = Number(match[2]);
    if (year < 100) year += 2000;
    return { month, year };
  };

  function showErrors(errors) {
    for (const name of ["holder", "number", "expiry", "cvc"]) {
      const el = document.getElementById(`${name}-error`);
      const message = errors[name];
      el.hidden = !message;
      el.textContent = message || "";
      field(name).setAttribute("aria-invalid", message ? "true" : "false");
    }
  }

  function check() {
    const errors = {};
    const number = digits(field("number").value);
    if (!field("holder").value.trim()) errors.holder = messages.holder;
    if (!luhn(number)) errors.number = messages.number;
    const expiry = parseExpiry(field("expiry").value);
    const now = new Date();
    if (!expiry || expiry.month < 1 || expiry.month > 12 ||
        expiry.year * 12 + expiry.month < now.getFullYear() * 12 + now.getMonth() + 1) {
      errors.expiry = messages.expiry;
    }
    const cvc = field("cvc").value.trim();
    const wanted = isAmex(number) ? 4 : 3;
    if (!/^\d+$/.test(cvc) || cvc.length !== wanted) {
      errors.cvc = wanted === 4 ? messages.cvc4 : messages.cvc3;
    }
    return { errors, number, expiry, cvc };
  }

  async function tokenize(reply) {
    const { errors, number, expiry, cvc } = check();
    showErrors(errors);
    if (Object.keys(errors).length) {
      reply({ type: "bp:invalid" });
      return;
    }
    try {
      const response = await fetch(tokensUrl, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        credentials: "omit",
        body: JSON.stringify({
          holder: field("holder").value, number, cvc,
          exp_month: String(expiry.month), exp_year: String(expiry.year),
        }),
      });
      const data = await response.json();
      if (response.status === 201) {
        reply({ type: "bp:token", token: data.token, brand: data.brand, last4: data.last4 });
      } else {
        showErrors(data.errors || {});
        reply({ type: "bp:invalid" });
      }
    } catch (error) {
      showErrors({ number: messages.unavailable });
      reply({ type: "bp:invalid" });
    }
  }

  // Only the portal may frame these fields (the frame-ancestors policy), and here the portal
  // is at this origin: messages go to it only, and only its messages are heard.
  const parentOrigin = window.location.origin;
  const tell = (message) => window.parent.postMessage(message, parentOrigin);

  // What to correct first, or the first field.
  function focusFirst() {
    const names = ["holder", "number", "expiry", "cvc"];
    const invalid = names.find((name) => field(name).getAttribute("aria-invalid") === "true");
    field(invalid || names[0]).focus();
  }

  window.addEventListener("message", (event) => {
    if (event.origin !== parentOrigin || event.source !== window.parent) return;
    const type = event.data && event.data.type;
    if (type === "bp:tokenize") tokenize(tell);
    else if (type === "bp:focus") focusFirst();
    else if (type === "bp:measure") { lastHeight = 0; sendHeight(); }
  });

  // Enter in a field sends the portal's form, as it would in a field of the page itself.
  form.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || event.isComposing || !(event.target instanceof HTMLInputElement)) return;
    event.preventDefault();
    tell({ type: "bp:submit" });
  });
  form.addEventListener("submit", (event) => event.preventDefault());

  // The frame is as tall as its fields and their errors: the page sizes it on each change.
  let lastHeight = 0;
  const sendHeight = () => {
    const height = Math.ceil(document.body.getBoundingClientRect().height);
    if (height === lastHeight) return;
    lastHeight = height;
    tell({ type: "bp:height", height });
  };
  new ResizeObserver(sendHeight).observe(document.body);
  sendHeight();
  tell({ type: "bp:ready" });
})();
