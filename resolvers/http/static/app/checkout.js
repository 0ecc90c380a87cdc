// The hosted checkout of the local gateway: pay a checkout session with a saved card or
// a test card, then go back to the frontend's successUrl.
import { busy, checked, escape, gql, money, showError, signIn, token, when } from "/static/app/gql.js";

const view = document.getElementById("view");
const sessionId = location.pathname.split("/").pop();
const TEST_CARDS = {
  pm_card_visa: "Visa ending 4242 (succeeds)",
  pm_card_mastercard: "Mastercard ending 4444 (succeeds)",
  pm_card_chargeDeclined: "Visa ending 0002 (declined)",
};

async function start() {
  if (!token.get()) {
    document.getElementById("signin").hidden = false;
    return;
  }
  document.getElementById("signin").hidden = true;
  const data = await gql(
    `query($id: ID!) { checkoutSession(id: $id) { purpose planName priceCents currency status promotionCode cancelUrl expiresAt trialDays }
      paymentMethods { id brand last4 isDefault } }`,
    { id: sessionId },
  );
  const session = data.checkoutSession;
  if (session.status !== "OPEN") {
    view.innerHTML = `<section><h2>This checkout is ${session.status.toLowerCase()}.</h2></section>`;
    return;
  }
  const addingCard = session.purpose === "ADD_CARD";
  const saved = addingCard ? [] : data.paymentMethods.map((m) => `<option value="${escape(m.id)}" ${m.isDefault ? "selected" : ""}>${escape(m.brand)} •••• ${escape(m.last4)}</option>`);
  const cards = Object.entries(TEST_CARDS).map(([id, label]) => `<option value="${id}">${label}</option>`);
  const intro = addingCard
    ? "<h2>Add a card</h2><p>It becomes your default payment method.</p>"
    : `<h2>${escape(session.planName)}</h2>
    <p><b>${money(session.priceCents, session.currency)}</b> a period${session.promotionCode ? `, with code ${escape(session.promotionCode)}` : ""}.
      ${session.trialDays > 0 ? `It starts with a ${session.trialDays}-day free trial.` : "You pay the first period now."}</p>`;
  view.innerHTML = `<section>${intro}
    <p class="muted">Valid until ${when(session.expiresAt)}. Test cards of the local payment gateway.</p>
    <form id="pay" class="inline"><label>${addingCard ? "Card" : "Pay with"} <select name="card">${[...saved, ...cards].join("")}</select></label>
      <button type="submit">${addingCard ? "Save card" : "Subscribe"}</button> <a href="${escape(session.cancelUrl)}">Cancel</a></form></section>`;
  const form = document.getElementById("pay");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(form.querySelector("button"), async () => {
      const card = new FormData(form).get("card");
      const done = checked((await gql(
        "mutation($i: CompleteCheckoutSessionInput!) { completeCheckoutSession(input: $i) { redirectUrl errors { code field message } } }",
        { i: { id: sessionId, paymentMethodId: card } },
      )).completeCheckoutSession);
      location.assign(done.redirectUrl);
    });
  });
}

signIn(document.getElementById("signin-form"), { admin: false, onSignedIn: () => start().catch(showError) });
start().catch(showError);
