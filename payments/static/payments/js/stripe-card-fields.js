// The Stripe adapter's card fields: Stripe Elements' card element, confirmed with Stripe
// from this page (the bank's challenge shows when it asks). Saving a card confirms the setup
// intent the server created for the page; paying once asks the server to create the
// payment's intent for the amount, then confirms it. Either way the form is then sent with
// the intent's id, and the server reads the outcome from Stripe itself.
(() => {
  const root = document.querySelector("[data-stripe-card]");
  const mount = root && root.querySelector("#card-element");
  if (!mount || typeof Stripe === "undefined") return;
  const stripe = Stripe(root.dataset.publishableKey, { locale: root.dataset.locale || "auto" });
  const card = stripe.elements().create("card", { hidePostalCode: true });
  card.mount(mount);
  const errors = root.querySelector("[data-card-errors]");
  const holder = root.querySelector("[data-card-holder]");
  let incomplete = null;

  const show = (message) => {
    errors.textContent = message || "";
    errors.hidden = !message;
  };
  card.on("change", (event) => {
    if (!event) return;
    incomplete = event.complete === false ? event.error || { message: "" } : null;
    show(event.error ? event.error.message : "");
  });

  const billingDetails = (form) => {
    const value = (name) => (form.elements.namedItem(name) || {}).value || undefined;
    return {
      name: holder.value || undefined,
      address: {
        line1: value("address_line1"),
        line2: value("address_line2"),
        city: value("city"),
        state: value("region"),
        postal_code: value("postal_code"),
        country: value("country"),
      },
    };
  };

  // The customer can only correct what the card fields say (an incomplete number, say);
  // a decline or a failed challenge is recorded by the server from what Stripe says.
  const mustCorrect = (result) => result.error && result.error.type === "validation_error";

  async function save(form) {
    const result = await stripe.confirmCardSetup(root.dataset.setupSecret, {
      payment_method: { card, billing_details: billingDetails(form) },
    });
    if (mustCorrect(result)) {
      show(result.error.message);
      return null;
    }
    return root.dataset.setup;
  }

  async function pay(form) {
    const response = await fetch(root.dataset.startUrl, {
      method: "POST",
      body: new FormData(form),
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    const started = await response.json().catch(() => ({}));
    if (!response.ok || !started.payment_intent) {
      show(started.error || response.statusText);
      // Past the card-testing limits: the page of the ways to pay still open.
      if (started.elsewhere) window.location.assign(started.elsewhere);
      return null;
    }
    if (!started.client_secret) return started.payment_intent;
    const result = await stripe.confirmCardPayment(started.client_secret, {
      payment_method: { card, billing_details: billingDetails(form) },
    });
    if (mustCorrect(result)) {
      show(result.error.message);
      return null;
    }
    return started.payment_intent;
  }

  window.cardFields = {
    // Stripe's element sizes itself, and Enter in it sends the form (card-form.js then asks
    // for the token as on a click); the error summary's link to the card comes here.
    focus() {
      card.focus();
    },
    async tokenize(form) {
      if (incomplete) {
        show(incomplete.message);
        return null;
      }
      show("");
      return root.dataset.setup ? save(form) : pay(form);
    },
  };
})();
