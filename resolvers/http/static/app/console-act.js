// Acting for a customer on their page: cancel, pause, resume or change plan, each with
// a typed reason (kept in their history) and a confirmation; a plan change shows its
// preview first. Only what the state allows is offered. Loaded with the customer page.
import { busy, checked, escape, gql, money, when } from "/static/app/gql.js";

const PAYLOAD = "{ subscription { status } errors { code field message } }";
const ACTIONS = {
  cancel_end: { label: "Cancel at period end", mutation: "cancelSubscriptionFor", input: "CancelSubscriptionForInput!", extra: () => ({ atPeriodEnd: true }) },
  cancel_now: { label: "Cancel now", mutation: "cancelSubscriptionFor", input: "CancelSubscriptionForInput!", extra: () => ({ atPeriodEnd: false }) },
  pause: { label: "Pause until…", mutation: "pauseSubscriptionFor", input: "PauseSubscriptionForInput!", extra: (f) => ({ resumesAt: new Date(`${f.get("resumesOn")}T00:00:00`).toISOString() }) },
  resume: { label: "Resume", mutation: "resumeSubscriptionFor", input: "ResumeSubscriptionForInput!", extra: () => ({}) },
  change: { label: "Change plan to…", mutation: "changePlanFor", input: "ChangePlanForInput!", extra: (f) => ({ planCode: f.get("planCode") }) },
  code: { label: "Apply promotion code…", mutation: "applyPromotionCodeFor", input: "ApplyPromotionCodeForInput!", extra: (f) => ({ code: f.get("code") }) },
};
const ALLOWED = {
  TRIALING: ["cancel_end", "cancel_now", "change", "code"],
  ACTIVE: ["cancel_end", "cancel_now", "pause", "change", "code"],
  PAST_DUE: ["cancel_now", "code"],
  PAUSED: ["resume", "cancel_now"],
  CANCELED: ["resume"], // cancelled at period end, still running
};

export async function actForCustomer(section, userId, status, planCode, redraw) {
  let offered = ALLOWED[status] || [];
  if (status === "CANCELED") {
    // Only a cancellation at period end can be taken back; one made now has ended it.
    const cancelled = (await gql("query($u: String!) { adminSubscriptions(filter: {userId: $u, status: CANCELED}, first: 20) { nodes { cancelAtPeriodEnd } } }", { u: userId })).adminSubscriptions.nodes;
    if (!cancelled.some((s) => s.cancelAtPeriodEnd)) offered = [];
  }
  if (!offered.length) {
    section.innerHTML = '<h2>Act for the customer</h2><p class="muted">Nothing can be changed for them in this state.</p>';
    return;
  }
  // The free plan is not bought: leaving a paid plan is a cancellation.
  const plans = (await gql("{ plans { code name kind priceCents } }")).plans.filter((p) => p.kind === "SUBSCRIPTION" && p.priceCents > 0 && p.code !== planCode);
  section.innerHTML = `<h2>Act for the customer</h2>
    <form id="act-form" class="inline">
      <label>Action <select name="action">${offered.map((a) => `<option value="${a}">${ACTIONS[a].label}</option>`).join("")}</select></label>
      <label data-for="change" hidden>Plan <select name="planCode">${plans.map((p) => `<option value="${escape(p.code)}">${escape(p.name)}</option>`).join("")}</select></label>
      <label data-for="pause" hidden>Resumes on <input name="resumesOn" type="date"></label>
      <label data-for="code" hidden>Promotion code <input name="code"></label>
      <label>Reason <input name="reason" required></label>
      <button type="submit">Apply</button>
    </form>
    <p id="act-preview" class="muted"></p>
    <p id="act-result" role="status"></p>`;
  const form = section.querySelector("#act-form");
  const preview = section.querySelector("#act-preview");
  let asked = 0; // previews may answer out of order: only the last one asked is shown
  const shown = async () => {
    const action = form.elements.action.value;
    for (const label of form.querySelectorAll("[data-for]")) label.hidden = label.dataset.for !== action;
    form.elements.resumesOn.required = action === "pause";
    form.elements.code.required = action === "code";
    preview.textContent = "";
    const ticket = ++asked;
    if (action !== "change" || !form.elements.planCode.value) return;
    let text;
    try {
      const p = (await gql("query($c: String!, $u: String!) { previewPlanChange(planCode: $c, userId: $u) { isUpgrade amountDueCents currency effectiveAt creditCents } }", { c: form.elements.planCode.value, u: userId })).previewPlanChange;
      text = `${p.isUpgrade ? "Upgrade" : "Downgrade"}: ${money(p.amountDueCents, p.currency)} due now${p.creditCents ? `, ${money(p.creditCents, p.currency)} to their credit` : ""}; takes effect ${when(p.effectiveAt)}.`;
    } catch (error) {
      text = `Not possible: ${error.message}`; // the change would be refused the same way
    }
    if (ticket === asked) preview.textContent = text;
  };
  form.elements.action.addEventListener("change", shown);
  form.elements.planCode.addEventListener("change", shown);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const f = new FormData(form);
    const action = ACTIONS[f.get("action")];
    const detail = { change: f.get("planCode"), pause: f.get("resumesOn"), code: f.get("code") }[f.get("action")];
    const what = detail ? `${action.label.replace("…", "")} ${detail}` : action.label;
    if (!confirm(`${what} for ${userId}? Reason: ${f.get("reason")}`)) return;
    busy(form.querySelector("button"), async () => {
      const input = { userId, reason: f.get("reason"), ...action.extra(f) };
      const done = checked((await gql(`mutation($i: ${action.input}) { ${action.mutation}(input: $i) ${PAYLOAD} }`, { i: input }))[action.mutation]);
      await redraw();
      document.getElementById("act-result").textContent = `Done: now ${done.subscription.status}.`;
    });
  });
  await shown();
}
