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
    }
  }
  useCompany.addEventListener("change", applyCompany);
  if (useCompany.checked) applyCompany();

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
      if (!token) return;
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
