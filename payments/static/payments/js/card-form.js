// Add Credit Card and Pay with Credit Card: fills the billing address from the company
// information, and asks the gateway's card fields for a single-use token before submitting.
// The card fields and how they make a token belong to the gateway adapter's own script
// (its card fields template), which defines window.cardFields = { tokenize(form) }: a promise of
// the token, or of null when the fields show the customer what to correct.
(() => {
  const form = document.querySelector("form[data-card-form]");
  if (!form) return;
  const company = JSON.parse(document.getElementById("company-info").textContent || "{}");
  const useCompany = form.elements.namedItem("use_company_info");
  const addressNames = ["address_line1", "address_line2", "city", "region", "postal_code", "country"];

  // With "Use company information" the address fields show the company's address, read
  // only and out of the tab order (the server uses the account's address whatever is sent);
  // unticked, they are editable again with what the customer had typed.
  function applyCompany() {
    const on = useCompany.checked;
    for (const name of addressNames) {
      const input = form.elements.namedItem(name);
      if (on) {
        input.dataset.typed = input.value;
        input.value = company[name] || "";
      } else if (input.dataset.typed !== undefined) {
        input.value = input.dataset.typed;
      }
      input.readOnly = on;
      if (input.tagName === "SELECT") input.disabled = on;
      if (on) input.tabIndex = -1;
      else input.removeAttribute("tabindex");
      input.closest(".field")?.classList.toggle("field-readonly", on);
    }
    const group = form.querySelector("[data-address-fields]");
    if (group) group.classList.toggle("address-from-company", on);
  }
  useCompany.addEventListener("change", applyCompany);
  if (useCompany.checked) applyCompany();

  // Enter in a field sends the form as its card button does: the browser's default button
  // is the form's first, which on the payment page is PayPal's (a redirect away). The card
  // fields' frame asks the same through its adapter's script.
  const cardButton = form.querySelector("[data-card-submit]");
  form.addEventListener("keydown", (event) => {
    const input = event.target;
    if (event.key !== "Enter" || event.isComposing || !cardButton) return;
    if (!(input instanceof HTMLInputElement) || ["submit", "button", "reset"].includes(input.type)) return;
    event.preventDefault();
    form.requestSubmit(cardButton);
  });

  let submitting = false;
  form.addEventListener("submit", async (event) => {
    // Other ways to pay in the same form (PayPal) need no card.
    if (event.submitter && "noCard" in event.submitter.dataset) return;
    if (form.elements.namedItem("card_token").value) return;
    event.preventDefault();
    if (submitting || !window.cardFields) return;
    submitting = true;
    try {
      const token = await window.cardFields.tokenize(form);
      if (!token) {
        // The card fields say what to correct: go there.
        if (window.cardFields.focus) window.cardFields.focus();
        return;
      }
      form.elements.namedItem("card_token").value = token;
      for (const name of addressNames) {
        const input = form.elements.namedItem(name);
        if (input.tagName === "SELECT") input.disabled = false;
      }
      form.submit();
    } finally {
      submitting = false;
    }
  });
})();
