// Add Credit Card and Pay with Credit Card: fills the billing address from the company information, and asks the
// gateway's card fields (in their own frame) for a single-use token before submitting.
(() => {
  const form = document.querySelector("form[data-card-form]");
  if (!form) return;
  const frame = document.getElementById("card-fields-frame");
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
  form.addEventListener("submit", (event) => {
    // Other ways to pay in the same form (PayPal) need no card.
    if (event.submitter && "noCard" in event.submitter.dataset) return;
    if (form.elements.namedItem("card_token").value) return;
    event.preventDefault();
    if (submitting) return;
    submitting = true;
    frame.contentWindow.postMessage({ type: "bp:tokenize" }, window.location.origin);
  });

  window.addEventListener("message", (event) => {
    if (event.origin !== window.location.origin || event.source !== frame.contentWindow) return;
    const data = event.data || {};
    if (data.type === "bp:token") {
      form.elements.namedItem("card_token").value = data.token;
      for (const name of addressNames) {
        const input = form.elements.namedItem(name);
        if (input.tagName === "SELECT") input.disabled = false;
      }
      form.submit();
    } else if (data.type === "bp:invalid") {
      submitting = false;
    }
  });
})();
