// The console's Coupons page (coupons with their redemptions, promotion codes, archive)
// and Meters page (meters, what each plan includes of them). Loaded on demand.
import { busy, checked, escape, gql, money, pages, when } from "/static/app/gql.js";

const ERRORS = "errors { code field message }";
const off = (c) => (c.percentOff ? `${c.percentOff}% off` : `${money(c.amountOffCents, c.currency)} off`);
const lasting = (c) => (c.duration === "REPEATING" ? `${c.durationInCycles} invoices` : c.duration.toLowerCase());
const limit = (used, max) => `${used}${max == null ? "" : ` of ${max}`}`;

export async function couponsPage(view, message = "") {
  const data = await pages.load(`{ coupons(includeArchived: true) { code name percentOff amountOffCents currency duration durationInCycles
      appliesToPlans maxRedemptions timesRedeemed redeemBy archived maxRedemptionsPerCustomer }
    promotionCodes { code couponCode maxRedemptions timesRedeemed expiresAt firstTimeOnly active } }`);
  const live = data.coupons.filter((c) => !c.archived);
  view.innerHTML = `
    <section><h2>Coupons</h2><p id="offers-result" role="status">${escape(message)}</p>
      <div class="table-wrap"><table id="coupons-table"><thead><tr><th>Code</th><th>Name</th><th>Discount</th><th>For</th><th>Plans</th><th>Redeemed</th><th></th></tr></thead><tbody>
        ${data.coupons.map((c) => `<tr><td>${escape(c.code)}</td><td>${escape(c.name)}</td><td>${off(c)}</td><td>${lasting(c)}</td>
          <td>${c.appliesToPlans.map(escape).join(", ") || "all"}</td><td>${limit(c.timesRedeemed, c.maxRedemptions)}</td>
          <td>${c.archived ? '<span class="muted">archived</span>' : `<button class="archive secondary" data-code="${escape(c.code)}">Archive</button>`}</td></tr>`).join("") ||
          '<tr><td colspan="7" class="muted">No coupons yet.</td></tr>'}
      </tbody></table></div>
      <form id="coupon-form" class="inline" aria-label="New coupon">
        <label>Code <input name="code" required></label><label>Name <input name="name" required></label>
        <label>Percent off <input name="percentOff" type="number" min="1" max="100"></label>
        <label>or amount off (minor units) <input name="amountOffCents" type="number" min="1"></label>
        <label>Duration <select name="duration"><option>ONCE</option><option>REPEATING</option><option>FOREVER</option></select></label>
        <label>Invoices (repeating) <input name="durationInCycles" type="number" min="1"></label>
        <label>Max redemptions <input name="maxRedemptions" type="number" min="1"></label>
        <button type="submit">Create coupon</button>
      </form></section>
    <section><h2>Promotion codes</h2>
      <div class="table-wrap"><table id="codes-table"><thead><tr><th>Code</th><th>Coupon</th><th>Redeemed</th><th>Expires</th><th>First-time only</th></tr></thead><tbody>
        ${data.promotionCodes.map((p) => `<tr><td>${escape(p.code)}</td><td>${escape(p.couponCode)}</td><td>${limit(p.timesRedeemed, p.maxRedemptions)}</td>
          <td>${when(p.expiresAt)}</td><td>${p.firstTimeOnly ? "yes" : "no"}</td></tr>`).join("") || '<tr><td colspan="5" class="muted">No codes yet.</td></tr>'}
      </tbody></table></div>
      ${live.length ? `<form id="code-form" class="inline" aria-label="New promotion code">
        <label>Coupon <select name="couponCode">${live.map((c) => `<option>${escape(c.code)}</option>`).join("")}</select></label>
        <label>Code customers type <input name="code" required></label>
        <label>Max redemptions <input name="maxRedemptions" type="number" min="1"></label>
        <label><input name="firstTimeOnly" type="checkbox"> First-time customers only</label>
        <button type="submit">Create code</button></form>` : '<p class="muted">A code needs a coupon that is not archived: create one above.</p>'}
    </section>`;
  const number = (f, name) => (f.get(name) ? Number(f.get(name)) : null);
  const submit = (id, build, mutation, name, done) => view.querySelector(id)?.addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target;
    busy(form.querySelector("button"), async () => {
      const answer = checked((await gql(mutation, { i: build(new FormData(form)) }))[name]);
      await couponsPage(view, done(answer));
    });
  });
  submit("#coupon-form", (f) => ({
    code: f.get("code"), name: f.get("name"), duration: f.get("duration"), percentOff: number(f, "percentOff"),
    amountOffCents: number(f, "amountOffCents"), currency: f.get("amountOffCents") ? "USD" : null,
    durationInCycles: number(f, "durationInCycles"), maxRedemptions: number(f, "maxRedemptions"),
  }), `mutation($i: CreateCouponInput!) { createCoupon(input: $i) { coupon { code } ${ERRORS} } }`, "createCoupon", (a) => `Coupon ${a.coupon.code} created.`);
  submit("#code-form", (f) => ({
    couponCode: f.get("couponCode"), code: f.get("code"), maxRedemptions: number(f, "maxRedemptions"), firstTimeOnly: f.get("firstTimeOnly") === "on",
  }), `mutation($i: CreatePromotionCodeInput!) { createPromotionCode(input: $i) { promotionCode { code } ${ERRORS} } }`, "createPromotionCode", (a) => `Code ${a.promotionCode.code} created.`);
  for (const button of view.querySelectorAll("button.archive")) {
    button.addEventListener("click", () => {
      if (!confirm(`Archive coupon ${button.dataset.code}? Discounts already given run their course.`)) return;
      busy(button, async () => {
        checked((await gql(`mutation($c: String!) { archiveCoupon(input: {code: $c}) { coupon { code } ${ERRORS} } }`, { c: button.dataset.code })).archiveCoupon);
        await couponsPage(view, `Coupon ${button.dataset.code} archived.`);
      });
    });
  }
}

export async function metersPage(view, message = "") {
  const data = await pages.load(`{ meters(includeArchived: true) { key name unit aggregation feature archived }
    plans { code name kind quotas { meterKey includedUnits overageUnitPriceCents hardLimit } } }`);
  const meters = data.meters.filter((m) => !m.archived);
  view.innerHTML = `
    <section><h2>Meters</h2><p id="meters-result" role="status">${escape(message)}</p>
      <div class="table-wrap"><table id="meters-table"><thead><tr><th>Key</th><th>Name</th><th>Unit</th><th>Counts</th><th>Unlocked by</th></tr></thead><tbody>
        ${data.meters.map((m) => `<tr><td>${escape(m.key)}</td><td>${escape(m.name)}${m.archived ? ' <span class="muted">(archived)</span>' : ""}</td><td>${escape(m.unit)}</td>
          <td>${m.aggregation.toLowerCase()}</td><td>${escape(m.feature || "a plan's quota")}</td></tr>`).join("") || '<tr><td colspan="5" class="muted">No meters yet.</td></tr>'}
      </tbody></table></div>
      <form id="meter-form" class="inline" aria-label="New meter">
        <label>Key <input name="key" required></label><label>Name <input name="name" required></label><label>Unit <input name="unit" required value="call"></label>
        <label>Counts <select name="aggregation"><option>COUNT</option><option>SUM</option><option>MAX</option><option>UNIQUE_COUNT</option></select></label>
        <button type="submit">Create meter</button></form></section>
    <section><h2>What each plan includes</h2>
      <div class="table-wrap"><table id="quotas-table"><thead><tr><th>Plan</th><th>Meter</th><th>Included</th><th>Past it</th></tr></thead><tbody>
        ${data.plans.flatMap((p) => p.quotas.map((q) => `<tr><td>${escape(p.name)}</td><td>${escape(q.meterKey)}</td><td>${q.includedUnits ?? "unlimited"}</td>
          <td>${q.hardLimit ? "refused" : `${money(q.overageUnitPriceCents)} a unit`}</td></tr>`)).join("") || '<tr><td colspan="4" class="muted">No plan includes a meter yet.</td></tr>'}
      </tbody></table></div>
      ${meters.length ? `<form id="quota-form" class="inline" aria-label="Set a plan's quota">
        <label>Plan <select name="planCode">${data.plans.map((p) => `<option value="${escape(p.code)}">${escape(p.name)}</option>`).join("")}</select></label>
        <label>Meter <select name="meterKey">${meters.map((m) => `<option>${escape(m.key)}</option>`).join("")}</select></label>
        <label>Included units (empty: unlimited) <input name="includedUnits" type="number" min="0"></label>
        <label>Overage a unit (minor units) <input name="overageUnitPriceCents" type="number" min="0" value="0"></label>
        <label><input name="hardLimit" type="checkbox" checked> Refuse past the included units</label>
        <button type="submit">Set quota</button></form>` : ""}
    </section>`;
  const wire = (id, build, mutation, name, done) => view.querySelector(id)?.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(event.target.querySelector("button"), async () => {
      checked((await gql(mutation, { i: build(new FormData(event.target)) }))[name]);
      await metersPage(view, done);
    });
  });
  wire("#meter-form", (f) => ({ key: f.get("key"), name: f.get("name"), unit: f.get("unit"), aggregation: f.get("aggregation") }),
    `mutation($i: CreateMeterInput!) { createMeter(input: $i) { meter { key } ${ERRORS} } }`, "createMeter", "Meter created.");
  wire("#quota-form", (f) => ({
    planCode: f.get("planCode"), meterKey: f.get("meterKey"), includedUnits: f.get("includedUnits") ? Number(f.get("includedUnits")) : null,
    overageUnitPriceCents: Number(f.get("overageUnitPriceCents") || 0), hardLimit: f.get("hardLimit") === "on",
  }), `mutation($i: SetPlanQuotaInput!) { setPlanQuota(input: $i) { quota { meterKey } ${ERRORS} } }`, "setPlanQuota", "Quota set.");
}
