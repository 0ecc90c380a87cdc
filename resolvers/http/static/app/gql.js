// The console's and portal's only way to the service: the public GraphQL API, over
// fetch and graphql-transport-ws, with the token kept in session storage (never in a URL).

const TOKEN_KEY = "subsvc.token";

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

// Business and GraphQL error codes, said as sentences.
const SENTENCES = {
  UNAUTHENTICATED: "Your sign-in is missing or has expired. Sign in again.",
  FORBIDDEN: "This token may not do that. The console needs an admin token.",
  RATE_LIMITED: "Too many changes at once. Wait a few seconds and try again.",
  INVALID_INPUT: "Some input is not valid",
  NOT_FOUND: "It was not found.",
  PLAN_NOT_FOUND: "There is no such plan.",
  PLAN_ARCHIVED: "That plan is no longer offered.",
  PLAN_NOT_PURCHASABLE: "That plan cannot be bought this way.",
  PLAN_CODE_TAKEN: "A plan with that code exists already.",
  ALREADY_SUBSCRIBED: "You already have a subscription: change or resume it instead.",
  NO_SUBSCRIPTION: "There is no current subscription.",
  INVALID_TRANSITION: "That is not possible in the subscription's current state.",
  NOT_AN_UPGRADE: "That plan is not above the current one.",
  NOT_A_DOWNGRADE: "That plan is not below the current one.",
  PAYMENT_METHOD_REQUIRED: "Add a payment method first.",
  PAYMENT_METHOD_NOT_FOUND: "That payment method is unknown.",
  PAYMENT_DECLINED: "The card was declined.",
  PAYMENT_REQUIRES_ACTION: "The bank asks to confirm this payment.",
  PAYMENT_GATEWAY_UNAVAILABLE: "The payment provider cannot be reached; nothing was charged.",
  PROMOTION_CODE_INVALID: "That promotion code is not valid.",
  PROMOTION_CODE_EXPIRED: "That promotion code has expired.",
  PROMOTION_CODE_EXHAUSTED: "That promotion code has been used up.",
  COUPON_NOT_APPLICABLE: "That code does not apply here.",
  TEST_CLOCK_DISABLED: "The test clock is off (start the service with TEST_CLOCK=1).",
  NOT_IN_PRODUCTION: "Signing in as someone is only possible in development.",
};

export function sentence(error) {
  const code = error.code || error.extensions?.code;
  // A refused sign-in says why (expired, not yet valid, wrong signature...).
  if (code === "UNAUTHENTICATED" && error.message) return `${SENTENCES[code]} (${error.message})`;
  const base = SENTENCES[code] || error.message || "Something went wrong.";
  const field = error.field ? ` (${error.field})` : "";
  return code === "INVALID_INPUT" && error.message ? `${base}: ${error.message}${field}.` : base;
}

export class GraphQLFailure extends Error {
  constructor(errors) {
    super(errors.map(sentence).join(" "));
    this.errors = errors;
  }
}

export async function gql(query, variables = {}) {
  const headers = { "Content-Type": "application/json" };
  const bearer = token.get();
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  const response = await fetch("/graphql", {
    method: "POST",
    headers,
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors?.length) throw new GraphQLFailure(body.errors);
  return body.data;
}

// A payload's business errors (`errors { code field message }`) become a failure too.
// A page's data may come back after the user asked for another page: its answer must not
// render over the newer page. `pages.next()` when a page starts; `pages.load` its data.
export class Stale extends Error {}

export const pages = {
  current: 0,
  next() {
    this.current += 1;
    return this.current;
  },
  async load(query, variables) {
    const ticket = this.current;
    const data = await gql(query, variables);
    if (ticket !== this.current) throw new Stale("another page was asked for");
    return data;
  },
};

export function checked(payload) {
  if (payload?.errors?.length) throw new GraphQLFailure(payload.errors);
  return payload;
}

// graphql-transport-ws: one socket per subscription; `onData` gets each result's data.
export function live(query, variables, onData, onClosed = () => {}) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/graphql`, "graphql-transport-ws");
  socket.addEventListener("open", () => {
    socket.send(JSON.stringify({ type: "connection_init", payload: { authorization: `Bearer ${token.get()}` } }));
  });
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "connection_ack") {
      socket.send(JSON.stringify({ id: "1", type: "subscribe", payload: { query, variables } }));
    } else if (message.type === "ping") {
      socket.send(JSON.stringify({ type: "pong" }));
    } else if (message.type === "next" && message.payload?.data) {
      onData(message.payload.data);
    } else if (message.type === "error") {
      onClosed(new GraphQLFailure(message.payload));
    }
  });
  socket.addEventListener("close", (event) => onClosed(event));
  return () => socket.close();
}

export function money(cents, currency = "USD") {
  return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(cents / 100);
}

export function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "—";
}

export function escape(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// Shows an error as a sentence in the page's alert region (role="alert").
export function showError(error) {
  const region = document.getElementById("alert");
  region.textContent = error instanceof Error ? error.message : String(error);
  region.hidden = false;
}

export function clearError() {
  const region = document.getElementById("alert");
  region.textContent = "";
  region.hidden = true;
}

// Runs `work` with the button disabled and a busy state: the loading indicator.
export async function busy(button, work) {
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  clearError();
  try {
    return await work();
  } catch (error) {
    showError(error);
    return undefined;
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

// The sign-in form: paste a token, or (development) sign in as someone.
export function signIn(form, { admin, onSignedIn }) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const pasted = String(data.get("token") || "").trim();
    const as = String(data.get("userId") || "").trim();
    await busy(form.querySelector("button[type=submit]"), async () => {
      if (pasted) {
        token.set(pasted);
      } else if (as) {
        const minted = await gql(
          "mutation($u: String!, $a: Boolean!) { developmentToken(input: {userId: $u, admin: $a}) { token errors { code field message } } }",
          { u: as, a: admin },
        );
        token.set(checked(minted.developmentToken).token);
      } else {
        throw new Error("Paste a token, or give a user id to sign in as.");
      }
      await onSignedIn();
    });
  });
}

// A table as CSV (what it shows: the current page), downloaded by the browser.
// A whole list as CSV: `page(after)` answers { rows: [[cell, ...]], next } until next is
// null (at most `limit` rows: beyond, narrow the filter).
export async function exportAll(head, page, filename, limit = 10000) {
  const rows = [];
  let after = null;
  do {
    const got = await page(after);
    rows.push(...got.rows);
    after = got.next;
  } while (after && rows.length < limit);
  const table = document.createElement("table");
  const tr = (cells, tag) => `<tr>${cells.map((c) => `<${tag}>${escape(c)}</${tag}>`).join("")}</tr>`;
  table.innerHTML = tr(head, "th") + rows.map((r) => tr(r, "td")).join("");
  exportCsv(table, filename);
}

export function exportCsv(table, filename) {
  const cell = (text) => `"${text.replace(/\s+/g, " ").trim().replace(/"/g, '""')}"`;
  const rows = [...table.querySelectorAll("tr")]
    .map((row) => [...row.querySelectorAll("th, td")].map((c) => cell(c.textContent)).join(","))
    .filter((line) => line.length);
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([`${rows.join("\r\n")}\r\n`], { type: "text/csv" }));
  link.download = filename;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}
