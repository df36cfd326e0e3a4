// Confirming, with the customer's bank, a charge it asked them to confirm: Stripe shows the
// bank's challenge; then the form is sent and the server reads the outcome from Stripe.
(() => {
  const root = document.querySelector("[data-stripe-confirm]");
  const form = root && root.closest("form");
  if (!form || typeof Stripe === "undefined") return;
  const stripe = Stripe(root.dataset.publishableKey, { locale: root.dataset.locale || "auto" });
  const errors = root.querySelector("[data-confirm-errors]");
  let confirming = false;
  form.addEventListener("submit", async (event) => {
    if (form.dataset.confirmed) return;
    event.preventDefault();
    if (confirming) return;
    confirming = true;
    const method = root.dataset.paymentMethod;
    const result = await stripe.confirmCardPayment(
      root.dataset.clientSecret,
      method ? { payment_method: method } : undefined,
    );
    if (result.error && result.error.type === "validation_error") {
      errors.textContent = result.error.message;
      errors.hidden = false;
      confirming = false;
      return;
    }
    form.dataset.confirmed = "1";
    form.submit();
  });
})();
