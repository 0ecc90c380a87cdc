// The console's money lists: every customer's invoices (filtered by status, exported in
// full), and the failed-payments queue (PAST_DUE: retry now, mark uncollectible).
// Loaded on demand.
import { busy, checked, escape, exportAll, exportCsv, gql, money, pages, when } from "/static/app/gql.js";

const INVOICE_STATUSES = ["DRAFT", "OPEN", "PAID", "VOID", "UNCOLLECTIBLE"];
const INVOICES = `query($s: InvoiceStatus, $after: String, $first: Int!) {
  allInvoices(status: $s, first: $first, after: $after) {
    nodes { number userId status currency totalCents amountPaidCents amountRefundedCents createdAt }
    pageInfo { hasNextPage endCursor } } }`;

const row = (i) => `<tr><td>${escape(i.number)}</td><td>${escape(i.userId)}</td><td>${when(i.createdAt)}</td>
  <td><span class="pill">${i.status}</span></td><td>${money(i.totalCents, i.currency)}</td>
  <td>${money(i.amountPaidCents, i.currency)}</td><td>${money(i.amountRefundedCents, i.currency)}</td></tr>`;
const HEAD = "<thead><tr><th>Number</th><th>Customer</th><th>Date</th><th>Status</th><th>Total</th><th>Paid</th><th>Refunded</th></tr></thead>";

export async function invoicesPage(view, status = "", after = "") {
  const data = await pages.load(INVOICES, { s: status || null, after: after || null, first: 25 });
  const { nodes, pageInfo } = data.allInvoices;
  const here = `#invoices/${encodeURIComponent(status)}`;
  view.innerHTML = `
    <section><h2>Invoices</h2>
      <form id="invoices-filter" class="inline" aria-label="Filter invoices">
        <label>Status <select name="status"><option value="">any</option>
          ${INVOICE_STATUSES.map((s) => `<option ${s === status ? "selected" : ""}>${s}</option>`).join("")}</select></label>
        <button type="submit">Filter</button>
      </form>
      <div class="table-wrap"><table id="invoices-table">${HEAD}<tbody>
        ${nodes.map(row).join("") || '<tr><td colspan="7" class="muted">No invoices match.</td></tr>'}
      </tbody></table></div>
      <p><button id="invoices-export" class="secondary">Export all matching (CSV)</button>
        ${after ? `<a href="${here}">First page</a> ` : ""}${pageInfo.hasNextPage ? `<a id="invoices-next" href="${here}/${encodeURIComponent(pageInfo.endCursor)}">Next page</a>` : ""}</p>
    </section>`;
  view.querySelector("#invoices-filter").addEventListener("submit", (event) => {
    event.preventDefault();
    location.hash = `invoices/${encodeURIComponent(new FormData(event.target).get("status"))}`;
  });
  const button = view.querySelector("#invoices-export");
  button.addEventListener("click", () => busy(button, () => exportAll(
    ["Number", "Customer", "Date", "Status", "Total", "Paid", "Refunded"],
    async (cursor) => {
      const page = (await gql(INVOICES, { s: status || null, after: cursor, first: 100 })).allInvoices;
      return {
        rows: page.nodes.map((i) => [i.number, i.userId, when(i.createdAt), i.status, money(i.totalCents, i.currency), money(i.amountPaidCents, i.currency), money(i.amountRefundedCents, i.currency)]),
        next: page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null,
      };
    },
    `invoices${status ? `-${status.toLowerCase()}` : ""}.csv`,
  )));
}

const QUEUE = `{
  adminSubscriptions(filter: {status: PAST_DUE}, first: 100) {
    nodes { id userId currency nextRetryAt graceExpiresAt plan { code } } }
  allInvoices(status: OPEN, first: 100) { nodes { subscriptionId userId totalCents amountPaidCents currency number } } }`;

export async function failedPage(view, message = "") {
  const data = await pages.load(QUEUE);
  const owed = new Map(data.allInvoices.nodes.map((i) => [i.subscriptionId, i]));
  const subs = data.adminSubscriptions.nodes;
  view.innerHTML = `
    <section><h2>Failed payments</h2>
      <p class="muted">Subscriptions past due: their renewal was declined and grace is running. "Retry now" charges the open invoice on the card on file at once (it counts as one of the plan's retries); "Mark uncollectible" ends grace now, as the plan's policy says.</p>
      <p id="queue-result" role="status">${escape(message)}</p>
      <div class="table-wrap"><table id="failed-table"><thead><tr><th>Customer</th><th>Plan</th><th>Owed</th><th>Next retry</th><th>Grace ends</th><th>Act</th></tr></thead><tbody>
        ${subs.map((s) => {
          const invoice = owed.get(s.id);
          const due = invoice ? `${money(invoice.totalCents - invoice.amountPaidCents, invoice.currency)} (${escape(invoice.number)})` : "—";
          return `<tr data-user="${escape(s.userId)}"><td><a href="#subscription/${encodeURIComponent(s.id)}/${encodeURIComponent(s.userId)}">${escape(s.userId)}</a></td>
            <td>${escape(s.plan.code)}</td><td>${due}</td><td>${when(s.nextRetryAt)}</td><td>${when(s.graceExpiresAt)}</td>
            <td><button class="retry">Retry now</button> <button class="write-off danger">Mark uncollectible</button></td></tr>`;
        }).join("") || '<tr><td colspan="6" class="muted">Nothing is past due.</td></tr>'}
      </tbody></table></div>
      <p><button id="failed-export" class="secondary">Export (CSV)</button></p>
    </section>`;
  view.querySelector("#failed-export").addEventListener("click", () => exportCsv(view.querySelector("#failed-table"), "failed-payments.csv"));
  for (const button of view.querySelectorAll("button.retry, button.write-off")) {
    const userId = button.closest("tr").dataset.user;
    const retry = button.classList.contains("retry");
    button.addEventListener("click", () => {
      const question = retry ? `Charge ${userId}'s open invoice now?` : `Mark ${userId}'s open invoice uncollectible and end grace now?`;
      if (!confirm(question)) return;
      busy(button, async () => {
        const name = retry ? "retryPaymentNow" : "markUncollectible";
        const answer = (await gql(`mutation($u: String!) { ${name}(input: {userId: $u}) { subscription { status } errors { code field message } } }`, { u: userId }))[name];
        const declined = answer.errors.find((e) => e.code === "PAYMENT_DECLINED");
        if (!declined) checked(answer);
        const outcome = declined ? `declined again: ${declined.message}` : `now ${answer.subscription.status}`;
        await failedPage(view, `${userId}: ${outcome}.`);
      });
    });
  }
}
