// The console's Test clocks page (TEST_CLOCK=1): the service's clock, and clocks of
// their own for customers: create, attach a customer, advance, delete. Loaded on demand.
import { Stale, busy, checked, escape, gql, pages, when } from "/static/app/gql.js";

const ERRORS = "errors { code field message }";
const local = (iso) => new Date(iso).toISOString().slice(0, 16); // for datetime-local inputs

export async function clocksPage(view, message = "") {
  let data;
  try {
    data = await pages.load("{ testClock { now } testClocks { id name now status customers } }");
  } catch (error) {
    if (error instanceof Stale) throw error;
    view.innerHTML = `<section><h2>Test clocks</h2><p>${escape(error.message)}</p></section>`;
    return;
  }
  const clocks = data.testClocks;
  view.innerHTML = `<section><h2>The service's clock</h2><p>Everyone not on a clock of their own: <b id="clock-now">${when(data.testClock.now)}</b></p>
      <form id="advance" class="inline"><label>Advance by days <input name="days" type="number" min="1" value="1"></label><button type="submit">Advance and run due work</button></form></section>
    <section><h2>Clocks per customer</h2><p id="clocks-result" role="status">${escape(message)}</p>
      <div class="table-wrap"><table id="clocks-table"><thead><tr><th>Name</th><th>Now</th><th>Status</th><th>Customers</th><th>Advance to</th><th></th></tr></thead><tbody>
        ${clocks.map((c) => `<tr data-id="${escape(c.id)}" data-name="${escape(c.name)}"><td>${escape(c.name)}</td><td>${when(c.now)}</td><td><span class="pill">${c.status}</span></td>
          <td>${c.customers.map(escape).join(", ") || "—"}</td>
          <td><input type="datetime-local" aria-label="Advance ${escape(c.name)} to" value="${local(c.now)}"> <button class="advance-clock">Advance</button></td>
          <td><button class="delete-clock danger">Delete</button></td></tr>`).join("") || '<tr><td colspan="6" class="muted">No clocks yet.</td></tr>'}
      </tbody></table></div>
      <form id="clock-form" class="inline" aria-label="New clock"><label>Name <input name="name" required></label>
        <label>Frozen at (UTC) <input name="frozenAt" type="datetime-local" required value="${local(data.testClock.now)}"></label><button type="submit">Create clock</button></form>
      ${clocks.length ? `<form id="attach-form" class="inline" aria-label="Attach a customer"><label>Clock <select name="clock">${clocks.map((c) => `<option value="${escape(c.id)}">${escape(c.name)}</option>`).join("")}</select></label>
        <label>Customer (before their first subscription) <input name="userId" required></label><button type="submit">Attach</button></form>` : ""}
    </section>`;
  const advance = view.querySelector("#advance");
  advance.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(advance.querySelector("button"), async () => {
      const seconds = Number(new FormData(advance).get("days")) * 86400;
      const result = checked((await gql(`mutation($s: Int!) { advanceTestClock(input: {seconds: $s}) { testClock { now applied } ${ERRORS} } }`, { s: seconds })).advanceTestClock);
      view.querySelector("#clock-now").textContent = `${when(result.testClock.now)} (${result.testClock.applied} pieces of due work applied: renewals, retries, expiries, reminders)`;
    });
  });
  const utc = (value) => `${value}:00Z`; // the inputs hold UTC wall time
  const run = (button, mutation, name, variables, done) => busy(button, async () => {
    const answer = checked((await gql(mutation, variables))[name]);
    await clocksPage(view, done(answer.testClock));
  });
  view.querySelector("#clock-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const f = new FormData(event.target);
    run(event.target.querySelector("button"), `mutation($n: String!, $at: DateTime!) { createTestClock(input: {name: $n, frozenAt: $at}) { testClock { name } ${ERRORS} } }`,
      "createTestClock", { n: f.get("name"), at: utc(f.get("frozenAt")) }, (c) => `Clock ${c.name} created.`);
  });
  view.querySelector("#attach-form")?.addEventListener("submit", (event) => {
    event.preventDefault();
    const f = new FormData(event.target);
    run(event.target.querySelector("button"), `mutation($u: String!, $c: ID!) { attachTestClock(input: {userId: $u, testClockId: $c}) { testClock { name } ${ERRORS} } }`,
      "attachTestClock", { u: f.get("userId"), c: f.get("clock") }, (c) => `${f.get("userId")} is on ${c.name}.`);
  });
  for (const row of view.querySelectorAll("#clocks-table tr[data-id]")) {
    const id = row.dataset.id;
    row.querySelector(".advance-clock").addEventListener("click", (event) => {
      const to = row.querySelector("input").value;
      run(event.target, `mutation($c: ID!, $to: DateTime!) { advanceTestClock(input: {testClockId: $c, to: $to}) { testClock { name now applied } ${ERRORS} } }`,
        "advanceTestClock", { c: id, to: utc(to) }, (c) => `${c.name} is at ${when(c.now)}: ${c.applied} pieces of due work applied.`);
    });
    row.querySelector(".delete-clock").addEventListener("click", (event) => {
      if (!confirm(`Delete ${row.dataset.name} and every row of its customers?`)) return;
      run(event.target, `mutation($c: ID!) { deleteTestClock(input: {testClockId: $c}) { testClock { name customers } ${ERRORS} } }`,
        "deleteTestClock", { c: id }, (c) => `${c.name} deleted with ${c.customers.length} customer(s).`);
    });
  }
}
