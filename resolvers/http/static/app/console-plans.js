// The console's plans page: prices (with a choice for current subscribers), a plan's
// lifecycle policy, a customer's own price, renaming and new plans.
import { busy, checked, escape, gql, money, pages, when } from "/static/app/gql.js";

const PLAN_FIELDS = `code name kind priceCents currency interval intervalCount trialDays tierRank archived
  policy { proration upgradeTiming downgradeTiming retryDays graceDays afterGrace }`;
const CHOICES = {
  proration: [["PRORATE", "prorated: credit the time left, charge the rest"], ["NONE", "none: the new price from the next invoice"], ["FULL_PERIOD", "full period: the new price now, a new period"]],
  timing: [["IMMEDIATE", "at once"], ["PERIOD_END", "at the period end"]],
  afterGrace: [["EXPIRE", "expires"], ["CANCEL", "is cancelled"], ["PAUSE", "is paused until the customer resumes"]],
};

function options(choices, chosen) {
  return choices.map(([value, label]) => `<option value="${value}" ${value === chosen ? "selected" : ""}>${escape(label)}</option>`).join("");
}

function summary(policy) {
  const label = (choices, value) => choices.find(([v]) => v === value)[1];
  const retries = policy.retryDays.length ? `retried on days ${policy.retryDays.join(", ")}` : "not retried";
  return `Upgrades ${label(CHOICES.timing, policy.upgradeTiming)}, downgrades ${label(CHOICES.timing, policy.downgradeTiming)}; ` +
    `a change made at once is charged ${label(CHOICES.proration, policy.proration).split(":")[0]}. A failed renewal is ${retries} of a ${policy.graceDays}-day grace, ` +
    `then the subscription ${label(CHOICES.afterGrace, policy.afterGrace)}.`;
}

function policySection(code, policy) {
  return `<section><h2>Policy of ${escape(code)}</h2>
    <p class="muted">How a change away from this plan is timed and charged, and what a failed renewal does (docs/lifecycle.md).</p>
    <p id="policy-summary">${summary(policy)}</p>
    <form id="policy-form" class="inline">
      <label>Proration <select name="proration">${options(CHOICES.proration, policy.proration)}</select></label>
      <label>Upgrades take effect <select name="upgradeTiming">${options(CHOICES.timing, policy.upgradeTiming)}</select></label>
      <label>Downgrades take effect <select name="downgradeTiming">${options(CHOICES.timing, policy.downgradeTiming)}</select></label>
      <label>Retry on days <input name="retryDays" value="${policy.retryDays.join(", ")}" size="10"></label>
      <label>Grace days <input name="graceDays" type="number" min="0" max="60" value="${policy.graceDays}" size="3"></label>
      <label>When grace ends unpaid, it <select name="afterGrace">${options(CHOICES.afterGrace, policy.afterGrace)}</select></label>
      <button type="submit">Save policy</button>
    </form></section>`;
}

function customerPriceSection(plans, selected) {
  return `<section><h2>A customer's own price</h2>
    <form id="customer-price-form" class="inline">
      <label>User id <input name="userId" required></label>
      <label>Plan <select name="planCode">${plans.map((p) => `<option ${p.code === selected ? "selected" : ""}>${escape(p.code)}</option>`).join("")}</select></label>
      <label>Customer price (minor units) <input name="priceCents" type="number" min="0"></label>
      <label>Until <input name="until" type="datetime-local"></label>
      <button type="submit">Set customer price</button>
      <button type="button" class="secondary" id="remove-customer-price">Remove customer price</button>
    </form><p id="customer-price-result" role="status"></p></section>`;
}

function wirePolicy(view, code, reload) {
  const form = view.querySelector("#policy-form");
  form?.addEventListener("submit", (event) => {
    event.preventDefault();
    const f = new FormData(form);
    busy(form.querySelector("button"), async () => {
      const retryDays = String(f.get("retryDays") || "").split(",").map((d) => d.trim()).filter(Boolean).map(Number);
      const input = {
        planCode: code, proration: f.get("proration"), upgradeTiming: f.get("upgradeTiming"), downgradeTiming: f.get("downgradeTiming"),
        retryDays, graceDays: Number(f.get("graceDays")), afterGrace: f.get("afterGrace"),
      };
      checked((await gql("mutation($i: SetPlanPolicyInput!) { setPlanPolicy(input: $i) { plan { code } errors { code field message } } }", { i: input })).setPlanPolicy);
      await reload(code);
    });
  });
}

function wireCustomerPrice(view) {
  const form = view.querySelector("#customer-price-form");
  const result = view.querySelector("#customer-price-result");
  const send = (remove) => {
    const f = new FormData(form);
    const who = { userId: f.get("userId"), planCode: f.get("planCode") };
    return async () => {
      if (remove) {
        checked((await gql("mutation($i: RemoveCustomerPriceInput!) { removeCustomerPrice(input: $i) { errors { code field message } } }", { i: who })).removeCustomerPrice);
        result.textContent = `${who.userId} pays the subscription's own price on ${who.planCode} from the next invoice.`;
        return;
      }
      const until = f.get("until") ? new Date(f.get("until")).toISOString() : null;
      const input = { ...who, priceCents: Number(f.get("priceCents")), until };
      const done = checked((await gql("mutation($i: SetCustomerPriceInput!) { setCustomerPrice(input: $i) { customerPrice { priceCents until } errors { code field message } } }", { i: input })).setCustomerPrice);
      const plan = await gql("query($c: String!) { plan(code: $c) { currency } }", { c: who.planCode });
      const price = money(done.customerPrice.priceCents, plan.plan.currency);
      result.textContent = `${who.userId} pays ${price} on ${who.planCode} from the next invoice ${done.customerPrice.until ? `until ${when(done.customerPrice.until)}` : "until removed"}.`;
    };
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!form.reportValidity()) return;
    busy(form.querySelector("button[type=submit]"), send(false));
  });
  const remove = view.querySelector("#remove-customer-price");
  remove.addEventListener("click", () => form.reportValidity() && busy(remove, send(true)));
}

export async function plansPage(view, selected = "") {
  const plans = (code) => plansPage(view, code);
  const data = await pages.load(`{ plans(includeArchived: true) { ${PLAN_FIELDS} } }`);
  const history = selected
    ? (await pages.load("query($c: String!) { pricingHistory(planCode: $c) { priceCents previousPriceCents currency changedBy changedAt note existingSubscribers moveAt } }", { c: selected })).pricingHistory
    : [];
  const chosen = data.plans.find((p) => p.code === selected);
  view.innerHTML = `
    <section><h2>Plans</h2><div class="table-wrap"><table id="plans-table"><thead><tr><th>Code</th><th>Name</th><th>Kind</th><th>Price</th><th>Interval</th><th>Rank</th><th></th></tr></thead><tbody>
      ${data.plans.map((p) => `<tr data-plan="${escape(p.code)}"><td><a href="#plans/${encodeURIComponent(p.code)}">${escape(p.code)}</a></td><td>${escape(p.name)}</td><td>${p.kind}</td>
        <td>${money(p.priceCents, p.currency)}</td><td>${p.intervalCount > 1 ? `every ${p.intervalCount} ${p.interval.toLowerCase()}s` : p.interval.toLowerCase()}</td><td>${p.tierRank}</td><td>${p.archived ? '<span class="pill">archived</span>' : `<button class="secondary archive" data-code="${escape(p.code)}">Archive</button>`}</td></tr>`).join("")}
    </tbody></table></div></section>
    <section><h2>Set a price</h2>
      <form id="price-form" class="inline">
        <label>Plan <select name="planCode">${data.plans.map((p) => `<option ${p.code === selected ? "selected" : ""}>${escape(p.code)}</option>`).join("")}</select></label>
        <label>Price (minor units) <input name="priceCents" type="number" min="0" required></label>
        <label>Currency <input name="currency" value="USD" size="4" required></label>
        <label>Current subscribers <select name="existingSubscribers"><option value="KEEP_PRICE">keep their price</option><option value="MOVE_AT">move to it on</option></select></label>
        <label>Move on <input name="moveAt" type="datetime-local"></label>
        <label>Note (internal) <input name="note"></label>
        <button type="submit">Set price</button>
      </form>
      ${selected ? `<h2>Pricing history of ${escape(selected)}</h2><ul id="pricing-history">${history.map((r) => `<li>${when(r.changedAt)}: ${money(r.priceCents, r.currency)} (was ${r.previousPriceCents === null ? "—" : money(r.previousPriceCents, r.currency)}) by ${escape(r.changedBy)}; ${r.existingSubscribers === "MOVE_AT" ? `subscribers move ${when(r.moveAt)}` : "subscribers keep their price"}${r.note ? ` — ${escape(r.note)}` : ""}</li>`).join("")}</ul>` : ""}
    </section>
    ${selected && chosen ? policySection(selected, chosen.policy) : ""}
    ${customerPriceSection(data.plans.filter((p) => p.kind === "SUBSCRIPTION"), selected)}
    <section><h2>Rename or describe a plan</h2>
      <form id="update-form" class="inline">
        <label>Plan <select name="code">${data.plans.map((p) => `<option ${p.code === selected ? "selected" : ""}>${escape(p.code)}</option>`).join("")}</select></label>
        <label>Name <input name="name"></label>
        <label>Description <input name="description"></label>
        <button type="submit">Update plan</button>
      </form>
    </section>
    <section><h2>New plan</h2>
      <form id="plan-form" class="inline">
        <label>Code <input name="code" required></label>
        <label>Name <input name="name" required></label>
        <label>Price (minor units) <input name="priceCents" type="number" min="0" required></label>
        <label>Currency <input name="currency" value="USD" size="4"></label>
        <label>Every <input name="intervalCount" type="number" min="1" max="36" value="1" size="3"></label>
        <label>Interval <select name="interval"><option>DAY</option><option>WEEK</option><option selected>MONTH</option><option>YEAR</option></select></label>
        <label>Tier rank <input name="tierRank" type="number" min="0" required></label>
        <label>Features (comma separated) <input name="entitlements"></label>
        <button type="submit">Create plan</button>
      </form>
    </section>`;
  wirePolicy(view, selected, plans);
  wireCustomerPrice(view);
  const price = document.getElementById("price-form");
  price.addEventListener("submit", (event) => {
    event.preventDefault();
    const f = new FormData(price);
    busy(price.querySelector("button"), async () => {
      const moving = f.get("existingSubscribers") === "MOVE_AT";
      const moveAt = moving && f.get("moveAt") ? new Date(f.get("moveAt")).toISOString() : null;
      const input = { planCode: f.get("planCode"), priceCents: Number(f.get("priceCents")), currency: f.get("currency"), note: f.get("note") || null, existingSubscribers: f.get("existingSubscribers"), moveAt };
      checked((await gql("mutation($i: SetPlanPriceInput!) { setPlanPrice(input: $i) { plan { code priceCents } errors { code field message } } }", { i: input })).setPlanPrice);
      location.hash = `plans/${encodeURIComponent(input.planCode)}`;
      await plans(input.planCode);
    });
  });
  const update = document.getElementById("update-form");
  update.addEventListener("submit", (event) => {
    event.preventDefault();
    const f = new FormData(update);
    busy(update.querySelector("button"), async () => {
      const input = { code: f.get("code"), name: f.get("name") || null, description: f.get("description") || null };
      checked((await gql("mutation($i: UpdatePlanInput!) { updatePlan(input: $i) { plan { code } errors { code field message } } }", { i: input })).updatePlan);
      await plans(input.code);
    });
  });
  const create = document.getElementById("plan-form");
  create.addEventListener("submit", (event) => {
    event.preventDefault();
    const f = new FormData(create);
    busy(create.querySelector("button"), async () => {
      const input = {
        code: f.get("code"), name: f.get("name"), priceCents: Number(f.get("priceCents")), currency: f.get("currency"),
        interval: f.get("interval"), intervalCount: Number(f.get("intervalCount") || 1), tierRank: Number(f.get("tierRank")),
        entitlements: String(f.get("entitlements") || "").split(",").map((s) => s.trim()).filter(Boolean),
      };
      checked((await gql("mutation($i: CreatePlanInput!) { createPlan(input: $i) { plan { code } errors { code field message } } }", { i: input })).createPlan);
      await plans(input.code);
    });
  });
  for (const button of document.querySelectorAll("button.archive")) {
    button.addEventListener("click", () => busy(button, async () => {
      checked((await gql("mutation($c: String!) { archivePlan(input: {code: $c}) { plan { code } errors { code field message } } }", { c: button.dataset.code })).archivePlan);
      await plans(selected);
    }));
  }
}
