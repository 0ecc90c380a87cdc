// The customer portal: the same public GraphQL operations a third-party frontend uses.
import { Stale, busy, checked, escape, gql, live, money, pages, showError, signIn, token, when } from "/static/app/gql.js";

const view = document.getElementById("view");
const SUBSCRIPTION = `mySubscription { id status currentPeriodEnd cancelAtPeriodEnd resumesAt currency
  trialEnd graceExpiresAt nextRetryAt
  priceCents scheduledPriceChange { priceCents effectiveAt }
  plan { code name priceCents currency tierRank } pendingPlan { code }
  entitlements { tier features } discount { couponCode percentOff amountOffCents cyclesLeft } }`;
let stopLive = null;
let myId = null; // the signed-in user, for operations that name them

async function start() {
  if (!token.get()) return showSignIn();
  try {
    myId = (await gql("{ me { userId } }")).me.userId;
  } catch (error) {
    token.clear();
    showSignIn();
    return showError(error);
  }
  document.getElementById("signin").hidden = true;
  document.getElementById("nav").hidden = false;
  if (!stopLive) {
    // A status change (a renewal, a webhook, an admin) redraws the page, no reload.
    stopLive = live("subscription { subscriptionStatusChanged { status } }", {}, () => route(), () => { stopLive = null; });
  }
  route();
}

function showSignIn() {
  document.getElementById("signin").hidden = false;
  document.getElementById("nav").hidden = true;
}

signIn(document.getElementById("signin-form"), { admin: false, onSignedIn: start });
window.addEventListener("hashchange", () => token.get() && route());

function route() {
  const [name, ...rest] = (location.hash.slice(1) || "overview").split("/");
  for (const link of document.querySelectorAll("nav a")) {
    if (link.getAttribute("href") === `#${name}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const handlers = { overview, plans, billing, invoices, invoice, signout, subscribed: overview };
  const ticket = pages.next();
  view.setAttribute("aria-busy", "true");
  view.innerHTML = '<p class="muted" role="status">Loading…</p>';
  (handlers[name] || overview)(...rest.map(decodeURIComponent))
    .catch((error) => error instanceof Stale || showError(error))
    .finally(() => ticket === pages.current && view.removeAttribute("aria-busy"));
}


async function signout() {
  token.clear();
  if (stopLive) stopLive();
  view.innerHTML = "";
  location.hash = "";
  showSignIn();
}

// --- overview --------------------------------------------------------------------

async function overview() {
  const data = await pages.load(`query($me: String!) { ${SUBSCRIPTION} me { creditBalanceCents creditCurrency entitlements { tier features } }
    myUsage { meterKey used remaining includedUnits packUnitsRemaining periodEnd }
    upcomingInvoice { totalCents currency dueAt }
    simulateInvoices(userId: $me, cycles: 6) { dueAt totalCents currency lines { kind description amountCents } }
    invoices(first: 5) { nodes { status totalCents amountPaidCents currency } }
    plans { code name kind priceCents currency validDays quotas { meterKey includedUnits } } }`, { me: myId });
  const sub = data.mySubscription;
  const me = data.me;
  const features = (sub?.entitlements || me.entitlements).features;
  view.innerHTML = `
    <section><h2>Your plan</h2>
      ${sub ? `<p><b id="plan-name">${escape(sub.plan.name)}</b> — <span class="pill" id="status">${sub.status}</span>
        ${sub.pendingPlan ? ` (changes to ${escape(sub.pendingPlan.code)} at period end)` : ""}</p>
        ${standing(sub, data.upcomingInvoice, data.invoices.nodes)}
        ${sub.scheduledPriceChange && !sub.cancelAtPeriodEnd ? `<p id="price-change">Your price changes to ${money(sub.scheduledPriceChange.priceCents, sub.currency)} on ${when(sub.scheduledPriceChange.effectiveAt)}.</p>` : ""}
        ${sub.discount ? `<p>Discount: ${escape(sub.discount.couponCode)} ${sub.discount.percentOff ? `${sub.discount.percentOff}% off` : money(sub.discount.amountOffCents, sub.currency)}</p>` : ""}`
        : `<p id="status">You are on the free plan. <a href="#plans">Choose a plan</a>.</p>`}
      <p>What you can use: ${features.map((f) => `<span class="pill">${escape(f)}</span>`).join(" ") || "—"}</p>
      <p>Credit balance: <b id="credit">${money(me.creditBalanceCents, me.creditCurrency || sub?.currency || "USD")}</b></p>
      ${sub ? `<p class="no-print">${selfService(sub)}</p>` : ""}
    </section>
    ${sub ? `<section><h2>Promotion code</h2><form id="promo" class="inline">
      <label>Code <input name="code" required></label><button type="submit">Apply</button></form></section>` : ""}
    ${data.simulateInvoices.length ? `<section><h2>Your next invoices</h2>
      <p class="muted">Expected from your plan, price, discount and credit; usage after today is not counted.</p>
      <div class="table-wrap"><table id="next-invoices"><thead><tr><th>Date</th><th>Amount</th><th>Lines</th></tr></thead><tbody>
      ${data.simulateInvoices.map((i) => `<tr><td>${when(i.dueAt)}</td><td>${money(i.totalCents, i.currency)}</td><td>${i.lines.map((l) => `${escape(l.description)}: ${money(l.amountCents, i.currency)}`).join("<br>")}</td></tr>`).join("")}
      </tbody></table></div></section>` : ""}
    <section><h2>Usage this period</h2>
      <div class="table-wrap"><table><thead><tr><th>Meter</th><th>Used</th><th>Included</th><th>Packs</th><th>Remaining</th></tr></thead><tbody>
      ${data.myUsage.map((u) => `<tr><td>${escape(u.meterKey)}</td><td>${u.used}</td><td>${u.includedUnits ?? "unlimited"}</td><td>${u.packUnitsRemaining}</td><td>${u.remaining ?? "unlimited"}</td></tr>`).join("") || '<tr><td colspan="5" class="muted">Nothing metered on your plan.</td></tr>'}
      </tbody></table></div>${packOffers(data.plans, data.myUsage)}</section>`;
  const cancel = document.getElementById("cancel");
  cancel?.addEventListener("click", () => busy(cancel, async () => {
    const atPeriodEnd = !cancel.dataset.now;
    checked((await gql("mutation($e: Boolean!) { cancelSubscription(input: {atPeriodEnd: $e}) { subscription { status } errors { code field message } } }", { e: atPeriodEnd })).cancelSubscription);
    await overview();
  }));
  const payNow = document.getElementById("pay-now");
  payNow?.addEventListener("click", () => busy(payNow, async () => {
    // A decline comes back as an error: the card on file is charged once, now.
    checked((await gql("mutation { payNow { subscription { status } errors { code field message } } }")).payNow);
    await overview();
  }));
  const resume = document.getElementById("resume");
  resume?.addEventListener("click", () => busy(resume, async () => {
    checked((await gql("mutation { resumeSubscription { subscription { status } errors { code field message } } }")).resumeSubscription);
    await overview();
  }));
  for (const button of document.querySelectorAll("button.buy-pack")) {
    button.addEventListener("click", () => {
      if (!confirm(`Buy ${button.dataset.name} for ${button.dataset.price}? Your card on file is charged now.`)) return;
      busy(button, async () => {
        checked((await gql("mutation($c: String!) { purchaseQuotaPack(input: {planCode: $c}) { pack { status } errors { code field message } } }", { c: button.dataset.code })).purchaseQuotaPack);
        await overview();
      });
    });
  }
  const promo = document.getElementById("promo");
  promo?.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(promo.querySelector("button"), async () => {
      const code = new FormData(promo).get("code");
      checked((await gql("mutation($c: String!) { applyPromotionCode(input: {code: $c}) { subscription { id } errors { code field message } } }", { c: code })).applyPromotionCode);
      await overview();
    });
  });
}

// Packs of units for the meters the customer uses, offered beside their usage (first
// to those out of units).
function packOffers(plans, usage) {
  const used = new Set(usage.map((u) => u.meterKey));
  const packs = plans.filter((p) => p.kind === "QUOTA" && p.quotas.some((q) => used.has(q.meterKey)));
  if (!packs.length) return "";
  const out = usage.some((u) => u.remaining === 0);
  return `<h3>${out ? "Out of units? Buy more" : "Buy more units"}</h3><ul id="packs">${packs.map((p) => {
    const price = money(p.priceCents, p.currency);
    const units = p.quotas.map((q) => `${q.includedUnits} ${escape(q.meterKey)}`).join(", ");
    return `<li>${escape(p.name)}: ${units} for ${price}${p.validDays ? `, valid ${p.validDays} days` : ""}
      <button class="buy-pack secondary" data-code="${escape(p.code)}" data-name="${escape(p.name)}" data-price="${escape(price)}">Buy</button></li>`;
  }).join("")}</ul>`;
}

// What the subscription's state means for the customer, in words and figures.
function standing(sub, upcoming, invoices) {
  const price = `<span id="own-price">${money(sub.priceCents, sub.currency)}</span>`;
  const next = upcoming ? ` Your next charge: <b id="next-charge">${money(upcoming.totalCents, upcoming.currency)}</b> on ${when(upcoming.dueAt)}.` : "";
  switch (sub.status) {
    case "TRIALING":
      return `<p id="standing">Your free trial ends on ${when(sub.trialEnd)}; then ${price} a period is charged to your card.${next}</p>`;
    case "PAST_DUE": {
      const open = invoices.find((i) => i.status === "OPEN");
      const owed = open ? money(open.totalCents - open.amountPaidCents, open.currency) : "your renewal";
      const retry = sub.nextRetryAt ? ` We will try your card again on ${when(sub.nextRetryAt)}.` : "";
      return `<p id="standing" class="warning">Payment failed: ${owed} is due.${retry} Until ${when(sub.graceExpiresAt)} you keep part of your plan. <a href="#billing">Update your card</a>.</p>`;
    }
    case "SUSPENDED":
      return '<p id="standing" class="warning">Your subscription is suspended by our team: nothing can be changed here. Please contact support.</p>';
    case "PAUSED":
      return `<p id="standing">Paused${sub.resumesAt ? ` until ${when(sub.resumesAt)}` : " until you resume it"}: nothing is charged meanwhile.</p>`;
    case "CANCELED":
      return sub.cancelAtPeriodEnd
        ? `<p id="standing">Active until ${when(sub.currentPeriodEnd)}, then it ends. You can resume it before then.</p>`
        : '<p id="standing">Ended.</p>';
    default:
      return `<p id="standing" class="muted">Renews at ${price} on ${when(sub.currentPeriodEnd)}.${next}</p>`;
  }
}

// Only what the state allows is offered.
function selfService(sub) {
  if (sub.status === "SUSPENDED" || (sub.status === "CANCELED" && !sub.cancelAtPeriodEnd)) return "";
  if (sub.cancelAtPeriodEnd || sub.status === "PAUSED") return '<button id="resume">Resume</button>';
  // An unpaid period has no paid time left to run out: cancelling ends it now.
  if (sub.status === "PAST_DUE") return '<button id="pay-now">Pay now</button> <button id="cancel" class="danger" data-now="1">Cancel now</button>';
  return '<button id="cancel" class="danger">Cancel at period end</button>';
}

// --- plans: change with a preview, or check out ----------------------------------

async function plans() {
  const data = await pages.load(`{ plans { code name priceCents currency interval intervalCount kind tierRank entitlements } ${SUBSCRIPTION} }`);
  const sub = data.mySubscription;
  const offered = data.plans.filter((p) => p.kind === "SUBSCRIPTION" && p.priceCents > 0);
  view.innerHTML = `<section><h2>Plans</h2><div class="plans">
    ${offered.map((p) => `<div class="plan ${sub?.plan.code === p.code ? "current" : ""}" data-plan="${escape(p.code)}">
      <h3>${escape(p.name)}</h3><p>${money(p.priceCents, p.currency)} / ${p.interval.toLowerCase()}</p>
      <p class="muted">${p.entitlements.map(escape).join(", ")}</p>
      ${sub?.plan.code === p.code ? '<span class="pill">your plan</span>'
        : sub ? `<button class="preview" data-code="${escape(p.code)}">${p.tierRank > sub.plan.tierRank ? "Upgrade" : "Downgrade"}…</button>`
        : `<button class="choose" data-code="${escape(p.code)}">Choose</button>`}
      <div class="preview-box" aria-live="polite"></div></div>`).join("")}
  </div>${sub ? "" : `<form id="checkout-code" class="inline"><label>Promotion code (optional) <input name="code"></label></form>`}</section>`;
  for (const button of document.querySelectorAll("button.preview")) {
    button.addEventListener("click", () => busy(button, async () => {
      const code = button.dataset.code;
      const preview = (await gql("query($c: String!) { previewPlanChange(planCode: $c) { isUpgrade amountDueCents creditCents currency effectiveAt lines { description amountCents } } }", { c: code })).previewPlanChange;
      const target = offered.find((p) => p.code === code);
      const box = button.parentElement.querySelector(".preview-box");
      const due = preview.amountDueCents ? `Due now: <b>${money(preview.amountDueCents, preview.currency)}</b>` : "Nothing due now";
      const when_ = ` The change takes effect on ${when(preview.effectiveAt)}.`;
      const credit = preview.creditCents ? ` ${money(preview.creditCents, preview.currency)} of unused time goes to your credit balance.` : "";
      box.innerHTML = `<p class="preview-amount">${due}.${when_}${credit} Then ${money(target.priceCents, target.currency)} ${per(target)}.</p>
        <ul>${preview.lines.map((l) => `<li>${escape(l.description)}: ${money(l.amountCents, preview.currency)}</li>`).join("")}</ul>
        <button class="confirm">Confirm ${preview.isUpgrade ? "upgrade" : "downgrade"}</button>`;
      const confirm = box.querySelector("button.confirm");
      confirm.focus();
      confirm.addEventListener("click", () => busy(confirm, async () => {
        const name = preview.isUpgrade ? "upgrade" : "downgrade";
        checked((await gql(`mutation($c: String!) { ${name}(input: {planCode: $c}) { subscription { status plan { code } } errors { code field message } } }`, { c: code }))[name]);
        location.hash = "overview";
      }));
    }));
  }
  for (const button of document.querySelectorAll("button.choose")) {
    button.addEventListener("click", () => busy(button, async () => {
      const promo = String(new FormData(document.getElementById("checkout-code")).get("code") || "").trim();
      if (promo && !button.dataset.priced) {
        // With a code: first what it will charge (the same rules as the checkout), then go.
        const found = (await gql("query($c: String!, $p: String) { simulateSubscribe(planCode: $c, promotionCode: $p, cycles: 3) { dueAt totalCents currency } }", { c: button.dataset.code, p: promo })).simulateSubscribe;
        button.parentElement.querySelector(".preview-box").innerHTML = `<ul class="promo-prices">${found.map((i) => `<li>${when(i.dueAt)}: ${money(i.totalCents, i.currency)}</li>`).join("")}</ul>`;
        button.dataset.priced = "1";
        button.textContent = "Continue to checkout";
        return;
      }
      const back = `${location.origin}/portal#`;
      const session = checked((await gql(
        "mutation($i: CreateCheckoutSessionInput!) { createCheckoutSession(input: $i) { session { url } errors { code field message } } }",
        { i: { planCode: button.dataset.code, successUrl: `${back}subscribed`, cancelUrl: `${back}plans`, promotionCode: promo || null } },
      )).createCheckoutSession).session;
      location.assign(session.url);
    }));
  }
}

function per(plan) {
  const unit = plan.interval.toLowerCase();
  return plan.intervalCount > 1 ? `every ${plan.intervalCount} ${unit}s` : `a ${unit}`;
}

// --- payment methods --------------------------------------------------------------

async function billing() {
  const methods = (await pages.load("{ paymentMethods { id brand last4 expMonth expYear isDefault platform } }")).paymentMethods;
  view.innerHTML = `<section><h2>Payment methods</h2><div class="table-wrap"><table><thead><tr><th>Card</th><th>Expires</th><th></th></tr></thead><tbody>
    ${methods.map((m) => `<tr><td>${escape(m.brand)} •••• ${escape(m.last4)} ${m.isDefault ? '<span class="pill">default</span>' : ""}</td><td>${m.expMonth}/${m.expYear}</td>
      <td>${m.isDefault ? "" : `<button class="secondary make-default" data-id="${escape(m.id)}">Make default</button>`} <button class="secondary detach" data-id="${escape(m.id)}">Remove</button></td></tr>`).join("") || '<tr><td colspan="3" class="muted">No saved cards.</td></tr>'}
    </tbody></table></div></section>
    <section><h2>Add a card</h2><p class="muted">On the payment provider's own page (Stripe's with Stripe; the test cards of the local gateway otherwise): card numbers never pass through this service.</p>
      <button id="add-card">Add a card</button></section>`;
  const add = document.getElementById("add-card");
  add.addEventListener("click", () => busy(add, async () => {
    const back = `${location.origin}/portal#billing`;
    const session = checked((await gql(
      "mutation($i: CreatePaymentMethodSessionInput!) { createPaymentMethodSession(input: $i) { session { url } errors { code field message } } }",
      { i: { successUrl: back, cancelUrl: back } },
    )).createPaymentMethodSession).session;
    location.assign(session.url);
  }));
  const act = (selector, name) => {
    for (const button of document.querySelectorAll(selector)) {
      button.addEventListener("click", () => busy(button, async () => {
        checked((await gql(`mutation($p: String!) { ${name}(input: {paymentMethodId: $p}) { paymentMethod { id } errors { code field message } } }`, { p: button.dataset.id }))[name]);
        await billing();
      }));
    }
  };
  act("button.make-default", "setDefaultPaymentMethod");
  act("button.detach", "detachPaymentMethod");
}

// --- invoices ----------------------------------------------------------------------

const INVOICE = "number status currency totalCents amountPaidCents amountRefundedCents periodStart periodEnd paidAt createdAt lines { kind description amountCents }";

async function invoices() {
  const data = await pages.load(`{ invoices(first: 50) { nodes { ${INVOICE} } } }`);
  view.innerHTML = `<section><h2>Invoices</h2><div class="table-wrap"><table><thead><tr><th>Number</th><th>Date</th><th>Status</th><th>Total</th><th></th></tr></thead><tbody>
    ${data.invoices.nodes.map((i) => `<tr><td>${escape(i.number)}</td><td>${when(i.createdAt)}</td><td>${i.status}</td><td>${money(i.totalCents, i.currency)}</td>
      <td><a href="#invoice/${encodeURIComponent(i.number)}">View / print</a></td></tr>`).join("") || '<tr><td colspan="5" class="muted">No invoices yet.</td></tr>'}
  </tbody></table></div></section>`;
}

async function invoice(number) {
  const data = await pages.load(`{ invoices(first: 100) { nodes { ${INVOICE} } } seller { name address taxId } }`);
  const found = data.invoices.nodes.find((i) => i.number === number);
  if (!found) throw new Error("That invoice was not found.");
  const seller = data.seller;
  view.innerHTML = `<section id="printable-invoice"><h2>Invoice ${escape(found.number)}</h2>
    <div class="parties"><p id="seller"><b>From</b><br>${escape(seller.name)}${seller.address ? `<br>${escape(seller.address)}` : ""}${seller.taxId ? `<br>Tax id ${escape(seller.taxId)}` : ""}</p>
      <p id="buyer"><b>To</b><br>Account ${escape(myId)}</p></div>
    <p>Issued ${when(found.createdAt)} · ${found.status}${found.paidAt ? ` · paid ${when(found.paidAt)}` : ""}</p>
    <p class="muted">Period ${when(found.periodStart)} – ${when(found.periodEnd)}</p>
    <table><thead><tr><th>Description</th><th>Amount</th></tr></thead><tbody>
      ${found.lines.map((l) => `<tr><td>${escape(l.description)}</td><td>${money(l.amountCents, found.currency)}</td></tr>`).join("")}
      <tr><th>Total</th><th>${money(found.totalCents, found.currency)}</th></tr>
      ${found.amountRefundedCents ? `<tr><td>Refunded</td><td>${money(-found.amountRefundedCents, found.currency)}</td></tr>` : ""}
    </tbody></table>
    <p class="no-print"><button id="print">Print</button> <a href="#invoices">Back to invoices</a></p></section>`;
  document.getElementById("print").addEventListener("click", () => window.print());
}

start();
