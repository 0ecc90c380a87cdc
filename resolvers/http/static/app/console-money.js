// The console's money actions on a customer's page: refund a payment, adjust credit.
import { busy, checked, gql, money } from "/static/app/gql.js";

// Refunds and credit for a customer: each with a typed reason and a confirmation that
// says the amount; the page is drawn again after, with the result above the ledger.
export function wireMoney(userId, currency, redraw) {
  const refund = document.getElementById("refund-form");
  for (const button of document.querySelectorAll("button.refund")) {
    button.addEventListener("click", () => {
      refund.hidden = false;
      refund.elements.paymentId.value = button.dataset.id;
      refund.dataset.left = button.dataset.left;
      refund.dataset.currency = button.dataset.currency;
      refund.elements.reason.focus();
    });
  }
  refund.addEventListener("submit", (event) => {
    event.preventDefault();
    const f = new FormData(refund);
    const amount = f.get("amountCents") ? Number(f.get("amountCents")) : null;
    const shown = money(amount ?? Number(refund.dataset.left), refund.dataset.currency);
    if (!confirm(`Refund ${shown} to ${f.get("to") === "card" ? "the card" : "the credit balance"}?`)) return;
    busy(refund.querySelector("button"), async () => {
      const input = { paymentId: f.get("paymentId"), reason: f.get("reason"), amountCents: amount, toCreditBalance: f.get("to") === "balance" };
      const done = checked((await gql("mutation($i: RefundPaymentInput!) { refundPayment(input: $i) { refund { amountCents currency status } errors { code field message } } }", { i: input })).refundPayment);
      await redraw();
      document.getElementById("money-result").textContent = `Refunded ${money(done.refund.amountCents, done.refund.currency)} (${done.refund.status.toLowerCase()}).`;
    });
  });
  const credit = document.getElementById("credit-form");
  credit.addEventListener("submit", (event) => {
    event.preventDefault();
    const f = new FormData(credit);
    const amount = Number(f.get("amountCents"));
    if (!confirm(`${amount < 0 ? "Take" : "Give"} ${money(Math.abs(amount), currency)} ${amount < 0 ? "from" : "to"} ${userId}'s credit balance?`)) return;
    busy(credit.querySelector("button"), async () => {
      const input = { userId, amountCents: amount, currency, reason: f.get("reason") };
      const done = checked((await gql("mutation($i: AdjustCreditInput!) { adjustCredit(input: $i) { entry { balanceAfterCents currency } errors { code field message } } }", { i: input })).adjustCredit);
      await redraw();
      document.getElementById("money-result").textContent = `Credit balance now ${money(done.entry.balanceAfterCents, done.entry.currency)}.`;
    });
  });
}
