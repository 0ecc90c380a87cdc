// The console's Events page (the event log, paged and filtered) and Webhooks page
// (endpoints, their state, recent deliveries, redeliver and replay). Loaded on demand.
import { busy, checked, escape, exportAll, exportCsv, gql, pages, when } from "/static/app/gql.js";

const EVENTS = `query($after: String, $types: [String!], $user: String) {
  events(first: 25, after: $after, types: $types, userId: $user) {
    edges { cursor node { id type subject time } } pageInfo { hasNextPage endCursor } } }`;

export async function eventsPage(view, types = "", userId = "", after = "") {
  const wanted = types.split(",").map((t) => t.trim()).filter(Boolean);
  const data = await pages.load(EVENTS, { after: after || null, types: wanted.length ? wanted : null, user: userId || null });
  const { edges, pageInfo } = data.events;
  const next = pageInfo.hasNextPage ? `#events/${encodeURIComponent(types)}/${encodeURIComponent(userId)}/${encodeURIComponent(pageInfo.endCursor)}` : "";
  view.innerHTML = `
    <section><h2>Event log</h2>
      <form id="events-filter" class="inline">
        <label>Types (comma separated) <input name="types" value="${escape(types)}" size="40"></label>
        <label>User id <input name="userId" value="${escape(userId)}"></label>
        <button type="submit">Filter</button>
      </form>
      <div class="table-wrap"><table id="events-table"><thead><tr><th>Time</th><th>Type</th><th>Subject</th><th>Event id</th></tr></thead><tbody>
        ${edges.map(({ node }) => `<tr><td>${when(node.time)}</td><td>${escape(node.type)}</td><td>${escape(node.subject)}</td><td class="muted">${escape(node.id)}</td></tr>`).join("") || '<tr><td colspan="4" class="muted">No events.</td></tr>'}
      </tbody></table></div>
      <p><button id="events-export" class="secondary">Export this page (CSV)</button> <button id="events-export-all" class="secondary">Export all matching (CSV)</button>
        ${after ? `<a href="#events/${encodeURIComponent(types)}/${encodeURIComponent(userId)}">First page</a> ` : ""}${next ? `<a id="events-next" href="${next}">Next page</a>` : ""}</p>
    </section>`;
  view.querySelector("#events-export").addEventListener("click", () => exportCsv(view.querySelector("#events-table"), "events.csv"));
  const all = view.querySelector("#events-export-all");
  all.addEventListener("click", () => busy(all, () => exportAll(["Time", "Type", "Subject", "Event id"], async (cursor) => {
    const got = (await gql(EVENTS, { after: cursor, types: wanted.length ? wanted : null, user: userId || null })).events;
    return { rows: got.edges.map(({ node }) => [when(node.time), node.type, node.subject, node.id]), next: got.pageInfo.hasNextPage ? got.pageInfo.endCursor : null };
  }, "events-all.csv")));
  const form = view.querySelector("#events-filter");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const f = new FormData(form);
    location.hash = `events/${encodeURIComponent(f.get("types"))}/${encodeURIComponent(f.get("userId"))}`;
  });
}

const ENDPOINT_FIELDS = "id url description eventTypes status disabledReason createdAt";
const MUTATIONS = {
  disable: "disableWebhookEndpoint", enable: "enableWebhookEndpoint", rotate: "rotateWebhookSecret", delete: "deleteWebhookEndpoint",
};

export async function webhooksPage(view, selected = "") {
  const reload = (id) => {
    history.replaceState(null, "", id ? `#webhooks/${id}` : "#webhooks");  // a reload shows it again
    return webhooksPage(view, id);
  };
  const data = await pages.load(`{ webhookEndpoints { ${ENDPOINT_FIELDS} } }`);
  const chosen = data.webhookEndpoints.find((e) => e.id === selected);
  const deliveries = chosen
    ? (await pages.load(`query($e: ID!) { webhookDeliveries(endpointId: $e, first: 25) { nodes { id eventId eventType status createdAt nextAttemptAt
        attempts { attempt statusCode durationMs error attemptedAt } } } }`, { e: chosen.id })).webhookDeliveries.nodes
    : [];
  view.innerHTML = `
    <section><h2>Webhook endpoints</h2>
      <div class="table-wrap"><table id="endpoints-table"><thead><tr><th>URL</th><th>Events</th><th>Status</th><th></th></tr></thead><tbody>
        ${data.webhookEndpoints.map((e) => `<tr data-endpoint="${e.id}"><td><a href="#webhooks/${e.id}">${escape(e.url)}</a><br><span class="muted">${escape(e.description)}</span></td>
          <td>${e.eventTypes.length ? e.eventTypes.map(escape).join(", ") : "all"}</td>
          <td><span class="pill">${e.status}</span>${e.disabledReason ? ` <span class="muted">${escape(e.disabledReason)}</span>` : ""}</td>
          <td>${e.status === "ENABLED" ? `<button class="secondary act" data-act="disable" data-id="${e.id}">Disable</button>` : `<button class="secondary act" data-act="enable" data-id="${e.id}">Enable</button>`}
            <button class="secondary act" data-act="rotate" data-id="${e.id}">Rotate secret</button>
            <button class="danger act" data-act="delete" data-id="${e.id}">Delete</button></td></tr>`).join("") || '<tr><td colspan="4" class="muted">No endpoints yet.</td></tr>'}
      </tbody></table></div>
      <p id="secret" role="status"></p>
    </section>
    <section><h2>New endpoint</h2>
      <form id="endpoint-form" class="inline">
        <label>URL <input name="url" type="url" required size="40"></label>
        <label>Event types (comma separated, empty: all) <input name="eventTypes" size="40"></label>
        <label>Description <input name="description"></label>
        <button type="submit">Add endpoint</button>
      </form>
    </section>
    ${chosen ? `<section><h2>Deliveries to ${escape(chosen.url)}</h2>
      <form id="replay-form" class="inline"><label>Replay events since <input name="since" type="datetime-local" required></label><button type="submit">Replay</button></form>
      <div class="table-wrap"><table id="deliveries-table"><thead><tr><th>Created</th><th>Event</th><th>Status</th><th>Attempts</th><th>Next attempt</th><th></th></tr></thead><tbody>
        ${deliveries.map((d) => `<tr><td>${when(d.createdAt)}</td><td>${escape(d.eventType)}<br><span class="muted">${escape(d.eventId)}</span></td><td><span class="pill">${d.status}</span></td>
          <td>${d.attempts.map((a) => `#${a.attempt}: ${a.statusCode ?? "no answer"} in ${a.durationMs} ms${a.error ? ` (${escape(a.error)})` : ""}`).join("<br>") || "—"}</td>
          <td>${d.nextAttemptAt ? when(d.nextAttemptAt) : "—"}</td>
          <td><button class="secondary redeliver" data-id="${d.id}">Redeliver</button></td></tr>`).join("") || '<tr><td colspan="6" class="muted">Nothing delivered yet.</td></tr>'}
      </tbody></table></div></section>` : ""}`;
  for (const button of view.querySelectorAll("button.act")) {
    button.addEventListener("click", () => busy(button, async () => {
      const act = button.dataset.act;
      if (act === "delete" && !confirm("Delete this endpoint and its delivery history?")) return;
      const name = MUTATIONS[act];
      const answer = checked((await gql(`mutation($i: WebhookEndpointIdInput!) { ${name}(input: $i) { endpoint { secret } errors { code field message } } }`, { i: { endpointId: button.dataset.id } }))[name]);
      await reload(act === "delete" ? "" : button.dataset.id);
      if (answer.endpoint?.secret) showSecret(view, answer.endpoint.secret);
    }));
  }
  const form = view.querySelector("#endpoint-form");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const f = new FormData(form);
    busy(form.querySelector("button"), async () => {
      const input = { url: f.get("url"), description: f.get("description"), eventTypes: String(f.get("eventTypes") || "").split(",").map((t) => t.trim()).filter(Boolean) };
      const made = checked((await gql(`mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) { endpoint { id secret } errors { code field message } } }`, { i: input })).createWebhookEndpoint);
      await reload(made.endpoint.id);
      showSecret(view, made.endpoint.secret);
    });
  });
  for (const button of view.querySelectorAll("button.redeliver")) {
    button.addEventListener("click", () => busy(button, async () => {
      checked((await gql("mutation($d: ID!) { redeliverWebhook(deliveryId: $d) { delivery { status } errors { code field message } } }", { d: button.dataset.id })).redeliverWebhook);
      await reload(selected);
    }));
  }
  const replay = view.querySelector("#replay-form");
  replay?.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(replay.querySelector("button"), async () => {
      const since = new Date(new FormData(replay).get("since")).toISOString();
      const done = checked((await gql("mutation($i: ReplayWebhooksInput!) { replayWebhooks(input: $i) { queued errors { code field message } } }", { i: { endpointId: selected, since } })).replayWebhooks);
      await reload(selected);
      view.querySelector("#secret").textContent = `${done.queued} deliveries queued.`;
    });
  });
}

function showSecret(view, secret) {
  view.querySelector("#secret").innerHTML = `Signing secret, shown this once: <code id="new-secret">${escape(secret)}</code>`;
}
