// The admin console: the same public GraphQL operations a third-party frontend uses.
import { Stale, busy, checked, escape, exportAll, exportCsv, gql, live, money, pages, showError, signIn, token, when } from "/static/app/gql.js";

const view = document.getElementById("view");
const STATUSES = ["PENDING", "TRIALING", "ACTIVE", "PAST_DUE", "CANCELED", "EXPIRED", "FAILED", "SUSPENDED", "PAUSED"];
let stopFeed = null;
const feed = []; // the live feed survives moving between sections

async function start() {
  if (!token.get()) return showSignIn();
  let me;
  try {
    me = (await gql("{ me { userId roles } }")).me;
  } catch (error) {
    token.clear();
    showSignIn();
    return showError(error);
  }
  if (!me.roles.includes("admin")) {
    view.innerHTML = "";
    document.getElementById("nav").hidden = true;
    showSignIn();
    return showError(`Signed in as ${me.userId}, who is not an admin: the console needs an admin token. No data is shown.`);
  }
  document.getElementById("signin").hidden = true;
  document.getElementById("nav").hidden = false;
  startFeed();
  route();
}

function loading() {
  view.setAttribute("aria-busy", "true");
  view.innerHTML = '<p class="muted" role="status">Loading…</p>';
}

function showSignIn() {
  document.getElementById("signin").hidden = false;
  document.getElementById("nav").hidden = true;
}

signIn(document.getElementById("signin-form"), { admin: true, onSignedIn: start });
window.addEventListener("hashchange", () => token.get() && route());

function route() {
  const [name, ...rest] = (location.hash.slice(1) || "subscriptions").split("/");
  for (const link of document.querySelectorAll("nav a")) {
    link.toggleAttribute("aria-current", link.getAttribute("href") === `#${name}`);
    if (link.getAttribute("href") === `#${name}`) link.setAttribute("aria-current", "page");
  }
  // Loaded when first opened: they are not part of the console's first load.
  const plans = async (selected) => (await import("/static/app/console-plans.js")).plansPage(view, selected);
  const events = async (...args) => (await import("/static/app/console-hooks.js")).eventsPage(view, ...args);
  const webhooks = async (...args) => (await import("/static/app/console-hooks.js")).webhooksPage(view, ...args);
  const invoices = async (...args) => (await import("/static/app/console-invoices.js")).invoicesPage(view, ...args);
  const failed = async () => (await import("/static/app/console-invoices.js")).failedPage(view);
  const coupons = async () => (await import("/static/app/console-offers.js")).couponsPage(view);
  const meters = async () => (await import("/static/app/console-offers.js")).metersPage(view);
  const clock = async () => (await import("/static/app/console-clocks.js")).clocksPage(view);
  const handlers = { subscriptions, subscription, plans, coupons, meters, invoices, failed, events, webhooks, feed: feedPage, metrics, clock, signout };
  const ticket = pages.next();
  loading();
  (handlers[name] || subscriptions)(...rest.map(decodeURIComponent))
    .catch((error) => error instanceof Stale || showError(error))
    .finally(() => ticket === pages.current && view.removeAttribute("aria-busy"));
}

async function signout() {
  token.clear();
  if (stopFeed) stopFeed();
  view.innerHTML = "";
  location.hash = "";
  showSignIn();
}

// --- subscriptions -------------------------------------------------------------

const LIST = `query($f: SubscriptionFilterInput, $after: String, $first: Int!) {
  adminSubscriptions(filter: $f, first: $first, after: $after) {
    nodes { id userId status currency pricePaidCents currentPeriodEnd plan { code } }
    pageInfo { hasNextPage endCursor } } }`;

async function subscriptions(status = "", planCode = "", userId = "", after = "") {
  const filter = { status: status || null, planCode: planCode || null, userIdPrefix: userId || null };
  const data = await pages.load(LIST, { f: filter, after: after || null, first: 20 });
  const page = data.adminSubscriptions;
  view.innerHTML = `
    <section><h2>Subscriptions</h2>
      <form id="filters" class="inline" aria-label="Filter subscriptions">
        <label>Status <select name="status"><option value="">any</option>
          ${STATUSES.map((s) => `<option ${s === status ? "selected" : ""}>${s}</option>`).join("")}</select></label>
        <label>Plan <input name="planCode" value="${escape(planCode)}"></label>
        <label>User id starts with <input name="userId" value="${escape(userId)}"></label>
        <button type="submit">Filter</button>
      </form>
      <div class="table-wrap"><table id="subscriptions-table">
        <thead><tr><th>User</th><th>Plan</th><th>Status</th><th>Paid</th><th>Period ends</th></tr></thead>
        <tbody>${page.nodes.map((s) => `<tr>
          <td><a href="#subscription/${encodeURIComponent(s.id)}/${encodeURIComponent(s.userId)}">${escape(s.userId)}</a></td>
          <td>${escape(s.plan.code)}</td><td><span class="pill">${s.status}</span></td>
          <td>${money(s.pricePaidCents, s.currency)}</td><td>${when(s.currentPeriodEnd)}</td></tr>`).join("") ||
          '<tr><td colspan="5" class="muted">No subscriptions match.</td></tr>'}</tbody>
      </table></div>
      <p><button id="export" class="secondary">Export this page (CSV)</button> <button id="export-all" class="secondary">Export all matching (CSV)</button>
      ${page.pageInfo.hasNextPage ? '<button id="next" class="secondary">Next page</button>' : ""}</p>
    </section>`;
  document.getElementById("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    const f = new FormData(event.target);
    location.hash = ["subscriptions", f.get("status"), f.get("planCode"), f.get("userId")].map(encodeURIComponent).join("/");
  });
  document.getElementById("export").addEventListener("click", () => exportCsv(document.getElementById("subscriptions-table"), "subscriptions.csv"));
  const all = document.getElementById("export-all");
  all.addEventListener("click", () => busy(all, () => exportAll(["User", "Plan", "Status", "Paid", "Period ends"], async (cursor) => {
    const got = (await gql(LIST, { f: filter, after: cursor, first: 100 })).adminSubscriptions;
    return { rows: got.nodes.map((s) => [s.userId, s.plan.code, s.status, money(s.pricePaidCents, s.currency), when(s.currentPeriodEnd)]), next: got.pageInfo.hasNextPage ? got.pageInfo.endCursor : null };
  }, "subscriptions-all.csv")));
  document.getElementById("next")?.addEventListener("click", () => {
    location.hash = ["subscriptions", status, planCode, userId, page.pageInfo.endCursor].map(encodeURIComponent).join("/");
  });
}

async function subscription(id, userId) {
  // The page's actions are wired as soon as it is drawn (their modules loaded first, on
  // demand: not part of the first load), so no button is ever shown without its handler.
  const [{ wireMoney }, { actForCustomer }] = await Promise.all([import("/static/app/console-money.js"), import("/static/app/console-act.js")]);
  const data = await pages.load(
    `query($id: String!, $u: String!) {
      subscriptionHistory(subscriptionId: $id) { fromStatus toStatus reason actor occurredAt note fromPlanCode planCode }
      userPayments(userId: $u) { id purpose status amountCents amountRefundedCents currency invoiceNumber createdAt }
      subscriptionStatus(userId: $u) { status planCode tier }
      creditLedger(userId: $u, first: 10) { nodes { amountCents balanceAfterCents kind reason createdAt } }
      invoices(userId: $u, first: 20) { nodes { number status currency totalCents amountRefundedCents createdAt lines { kind description amountCents } } }
      simulateInvoices(userId: $u, cycles: 6) { dueAt totalCents currency }
      creditNotes(userId: $u, first: 20) { number amountCents currency reason createdAt }
      quotaPacks(userId: $u) { planCode status expiresAt units { meterKey units usedUnits } } }`,
    { id, u: userId },
  );
  const status = data.subscriptionStatus;
  view.innerHTML = `
    <section><h2>${escape(userId)} — <span class="pill" id="detail-status">${escape(status.status || "none")}</span> on ${escape(status.planCode)}</h2>
      <p class="no-print">${actions(status.status)}</p>
    </section>
    <section><h2>Timeline</h2><div class="table-wrap"><table><thead><tr><th>When</th><th>Change</th><th>Why</th><th>Who</th></tr></thead><tbody>
      ${data.subscriptionHistory.map((h) => `<tr><td>${when(h.occurredAt)}</td><td>${h.fromStatus || "—"} → ${h.toStatus}${h.planCode ? ` <span class="plan-change">(${escape(h.fromPlanCode)} → ${escape(h.planCode)})</span>` : ""}</td><td>${escape(h.reason)}${h.note ? `: ${escape(h.note)}` : ""}</td><td>${escape(h.actor)}</td></tr>`).join("")}
    </tbody></table></div></section>
    <section><h2>Payments and invoices</h2><div class="table-wrap"><table><thead><tr><th>When</th><th>For</th><th>Status</th><th>Amount</th><th>Refunded</th><th>Invoice</th><th></th></tr></thead><tbody>
      ${data.userPayments.map((p) => `<tr><td>${when(p.createdAt)}</td><td>${p.purpose}</td><td>${p.status}</td><td>${money(p.amountCents, p.currency)}</td><td>${money(p.amountRefundedCents, p.currency)}</td><td>${escape(p.invoiceNumber || "—")}</td>
        <td>${p.status === "SUCCESS" && p.amountRefundedCents < p.amountCents ? `<button class="secondary refund" data-id="${escape(p.id)}" data-left="${p.amountCents - p.amountRefundedCents}" data-currency="${p.currency}">Refund…</button>` : ""}</td></tr>`).join("") || '<tr><td colspan="7" class="muted">No payments.</td></tr>'}
    </tbody></table></div></section>
    <section><h2>Invoices</h2><div class="table-wrap"><table id="invoices-table"><thead><tr><th>Number</th><th>Date</th><th>Status</th><th>Total</th><th>Refunded</th><th>Lines</th></tr></thead><tbody>
      ${data.invoices.nodes.map((i) => `<tr><td>${escape(i.number)}</td><td>${when(i.createdAt)}</td><td>${i.status}</td><td>${money(i.totalCents, i.currency)}</td><td>${money(i.amountRefundedCents, i.currency)}</td>
        <td>${i.lines.map((l) => `${escape(l.description)}: ${money(l.amountCents, i.currency)}`).join("<br>")}</td></tr>`).join("") || '<tr><td colspan="6" class="muted">No invoices.</td></tr>'}
    </tbody></table></div></section>
    <section><h2>Next invoices (simulated)</h2><ul id="next-invoices">${data.simulateInvoices.map((i) => `<li>${when(i.dueAt)}: ${money(i.totalCents, i.currency)}</li>`).join("") || '<li class="muted">Nothing will renew.</li>'}</ul></section>
    <section class="no-print" id="act-section"></section>
    <section class="no-print"><h2>Refund or credit</h2>
      <form id="refund-form" class="inline" hidden>
        <label>Refund of payment <input name="paymentId" readonly size="38"></label>
        <label>Amount (minor units; empty: all that is left) <input name="amountCents" type="number" min="1"></label>
        <label>To <select name="to"><option value="card">the card</option><option value="balance">the credit balance</option></select></label>
        <label>Reason <input name="reason" required></label>
        <button type="submit">Refund</button>
      </form>
      <form id="credit-form" class="inline">
        <label>Credit adjustment (minor units; negative takes credit away) <input name="amountCents" type="number" required></label>
        <label>Reason <input name="reason" required></label>
        <button type="submit">Adjust credit</button>
      </form>
      <p id="money-result" role="status"></p>
    </section>
    <section><h2>Credit notes</h2><ul id="credit-notes">${data.creditNotes.map((n) => `<li>${escape(n.number)}, ${when(n.createdAt)}: ${money(n.amountCents, n.currency)} — ${escape(n.reason)}</li>`).join("") || '<li class="muted">Nothing given back.</li>'}</ul></section>
    <section><h2>Quota packs</h2><ul id="quota-packs">${data.quotaPacks.map((p) => `<li>${escape(p.planCode)} (${p.status.toLowerCase()}, until ${when(p.expiresAt)}): ${p.units.map((u) => `${u.units - u.usedUnits} of ${u.units} ${escape(u.meterKey)} left`).join(", ")}</li>`).join("") || '<li class="muted">No packs.</li>'}</ul></section>
    <section><h2>Credit ledger</h2><ul>${data.creditLedger.nodes.map((e) => `<li>${when(e.createdAt)}: ${e.kind.toLowerCase()} ${money(e.amountCents)} (balance ${money(e.balanceAfterCents)}) — ${escape(e.reason)}</li>`).join("") || '<li class="muted">No credit.</li>'}</ul></section>`;
  wireMoney(userId, data.userPayments[0]?.currency || "USD", () => subscription(id, userId));
  // Only what the state allows is offered; after an action the page is drawn again.
  const act = (button, mutation, name) => button?.addEventListener("click", () => busy(button, async () => {
    checked((await gql(mutation, { u: userId }))[name]);
    await subscription(id, userId);
  }));
  act(document.getElementById("suspend"), 'mutation($u: String!) { suspendSubscription(input: {userId: $u, reason: "console"}) { subscription { status } errors { code field message } } }', "suspendSubscription");
  act(document.getElementById("reinstate"), "mutation($u: String!) { reinstateSubscription(input: {userId: $u}) { subscription { status } errors { code field message } } }", "reinstateSubscription");
  await actForCustomer(document.getElementById("act-section"), userId, status.status, status.planCode, () => subscription(id, userId));
}

// --- live feed -----------------------------------------------------------------

function startFeed() {
  if (stopFeed) return;
  stopFeed = live(
    "subscription { adminSubscriptionEvents { userId status previousStatus planCode reason actor occurredAt } }",
    {},
    (data) => {
      feed.unshift(data.adminSubscriptionEvents);
      feed.length = Math.min(feed.length, 200);
      renderFeed();
    },
    () => { stopFeed = null; },
  );
}

function renderFeed() {
  const list = document.getElementById("feed-list");
  if (!list) return;
  list.innerHTML = feed.map((e) => `<li><b>${escape(e.userId)}</b>: ${e.previousStatus || "—"} → ${e.status} on ${escape(e.planCode)} (${escape(e.reason)}, by ${escape(e.actor)}) <span class="muted">${when(e.occurredAt)}</span></li>`).join("") || '<li class="muted">Waiting for changes…</li>';
}

async function feedPage() {
  view.innerHTML = `<section><h2>Live feed</h2><p class="muted">Every subscription change, as it is committed.</p><ul class="feed" id="feed-list" aria-live="polite"></ul></section>`;
  startFeed();
  renderFeed();
}

// --- metrics -------------------------------------------------------------------

function isoDay(date) { return date.toISOString().slice(0, 10); }

async function metrics(from = "", to = "") {
  // No range asked: the service picks it, ending at its own now (its clock may be moved).
  const data = await pages.load(
    `query($f: DateTime, $t: DateTime) { metrics(from: $f, to: $t) {
      from to mrrCents newMrrCents expansionMrrCents contractionMrrCents churnedMrrCents
      committedMrrCents payingSubscriptions churnRate arpuCents
      subscriptionsByStatus { key count } activeSubscriptionsByPlan { key count }
      trialsEnded trialsConverted trialConversionRate pastDueAmountCents
      series { at mrrCents activeSubscriptions } } }`,
    { f: from ? new Date(from).toISOString() : null, t: to ? new Date(`${to}T23:59:59`).toISOString() : null },
  );
  const m = data.metrics;
  const figure = (id, label, value, title = "") => `<div class="figure" title="${escape(title)}"><b id="${id}">${value}</b><span>${label}</span></div>`;
  const rate = m.trialConversionRate === null ? "—" : `${Math.round(m.trialConversionRate * 100)}%`;
  view.innerHTML = `
    <section><h2>Metrics</h2>
      <form id="range" class="inline"><label>From <input type="date" name="from" value="${isoDay(new Date(m.from))}"></label>
        <label>To <input type="date" name="to" value="${isoDay(new Date(m.to))}"></label><button type="submit">Show</button></form>
      <p class="muted" id="as-of">As of ${when(m.to)} (the service's clock; never later), movement since ${when(m.from)}.</p>
    </section>
    <section><div class="figures">
      ${figure("mrr", "MRR", money(m.mrrCents), "Paying subscriptions' plan prices, a month's worth: monthly plans at their price, yearly a twelfth, less discounts; trials are not revenue")}
      ${figure("new-mrr", "New MRR", money(m.newMrrCents), "MRR of subscriptions that had none at the start")}
      ${figure("expansion-mrr", "Expansion", money(m.expansionMrrCents), "MRR gained by subscriptions that had some")}
      ${figure("contraction-mrr", "Contraction", money(m.contractionMrrCents), "MRR lost by subscriptions that kept some")}
      ${figure("churned-mrr", "Churned MRR", money(m.churnedMrrCents), "MRR of subscriptions that have none at the end")}
      ${figure("committed-mrr", "Committed MRR", money(m.committedMrrCents), "MRR without the subscriptions cancelled at period end")}
      ${figure("arpu", `ARPU (${m.payingSubscriptions} paying)`, m.arpuCents === null ? "—" : money(m.arpuCents), "MRR per paying subscription")}
      ${figure("churn-rate", "Churn rate", m.churnRate === null ? "—" : `${Math.round(m.churnRate * 1000) / 10}%`, "Of the subscriptions paying at the start, the share paying nothing at the end")}
      ${figure("trial-conversion", `Trial conversion (${m.trialsConverted} of ${m.trialsEnded})`, rate)}
      ${figure("past-due", "Past due", money(m.pastDueAmountCents))}
    </div></section>
    <section><h2>Subscriptions as of ${when(m.to)}</h2><div class="figures">
      ${m.subscriptionsByStatus.map((s) => figure(`status-${s.key}`, s.key, s.count)).join("")}
      ${m.activeSubscriptionsByPlan.map((p) => figure(`plan-${p.key}`, `paying on ${escape(p.key)}`, p.count)).join("")}
    </div></section>
    <section class="chart"><h2>MRR and paying subscriptions</h2>${chart(m.series)}</section>`;
  document.getElementById("range").addEventListener("submit", (event) => {
    event.preventDefault();
    const f = new FormData(event.target);
    location.hash = `metrics/${f.get("from")}/${f.get("to")}`;
  });
}

function chart(series) {
  const width = 900, height = 220, pad = 40;
  if (series.every((p) => p.mrrCents === 0 && p.activeSubscriptions === 0)) {
    return '<p class="muted" id="chart-empty">No recurring revenue and no paying subscription in this range.</p>';
  }
  const maxMrr = Math.max(1, ...series.map((p) => p.mrrCents));
  const maxActive = Math.max(1, ...series.map((p) => p.activeSubscriptions));
  const x = (i) => pad + (i * (width - 2 * pad)) / Math.max(1, series.length - 1);
  const y = (value, max) => height - pad - (value * (height - 2 * pad)) / max;
  const line = (value, max) => series.map((p, i) => `${x(i).toFixed(1)},${y(value(p), max).toFixed(1)}`).join(" ");
  const day = (at) => new Date(at).toLocaleDateString();
  return `<svg viewBox="0 0 ${width} ${height}" role="img" aria-label="MRR (blue, left axis) and paying subscriptions (green, right axis) from ${day(series[0].at)} to ${day(series[series.length - 1].at)}">
    <line x1="${pad}" y1="${height - pad}" x2="${width - pad}" y2="${height - pad}" stroke="#98a2b3"/>
    <line x1="${pad}" y1="${pad}" x2="${pad}" y2="${height - pad}" stroke="#98a2b3"/>
    <line x1="${width - pad}" y1="${pad}" x2="${width - pad}" y2="${height - pad}" stroke="#98a2b3"/>
    <text x="${pad - 4}" y="${pad + 4}" font-size="11" fill="#3b4bd8" text-anchor="end">${money(maxMrr)}</text>
    <text x="${pad - 4}" y="${height - pad}" font-size="11" fill="#3b4bd8" text-anchor="end">0</text>
    <text x="${width - pad + 4}" y="${pad + 4}" font-size="11" fill="#067647">${maxActive}</text>
    <text x="${width - pad + 4}" y="${height - pad}" font-size="11" fill="#067647">0</text>
    <text x="${pad}" y="${height - pad + 16}" font-size="11" fill="#475467">${day(series[0].at)}</text>
    <text x="${width - pad}" y="${height - pad + 16}" font-size="11" fill="#475467" text-anchor="end">${day(series[series.length - 1].at)}</text>
    <polyline fill="none" stroke="#3b4bd8" stroke-width="2" points="${line((p) => p.mrrCents, maxMrr)}"/>
    <polyline fill="none" stroke="#067647" stroke-width="2" stroke-dasharray="4 3" points="${line((p) => p.activeSubscriptions, maxActive)}"/>
  </svg>`;
}

function actions(status) {
  if (status === "SUSPENDED") return '<button id="reinstate" class="secondary">Reinstate</button>';
  if (["TRIALING", "ACTIVE", "PAST_DUE", "PAUSED"].includes(status)) return '<button id="suspend" class="danger">Suspend</button>';
  return '<span class="muted">No admin action applies to this state.</span>';
}

start();
