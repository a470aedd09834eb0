// The self-serve provisioning page: plain JavaScript, no framework, nothing loaded from
// elsewhere. The portal session arrives in the link's fragment (#session=portal_…), which
// browsers never send to a server; it is moved to sessionStorage (this tab only) and removed
// from the address bar. Every value from the API is written with textContent, never as HTML.
"use strict";

const API = "v1";
// The filters applied (by Search / Show), which paging keeps until they are applied again.
const state = {
  usersStart: 1, usersSearch: "", groupsStart: 1, groupsSearch: "", logBefore: null, logStatus: "",
  logResource: "", pageSize: 25, tenantUrl: "", newToken: "",
};

// Read once, when the page opens: a session is never switched under a page already open.
function takeSessionFromLink() {
  const match = /(?:^|&)session=([^&]+)/.exec(location.hash.slice(1));
  if (match) {
    sessionStorage.setItem("portal-session", decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
}

function session() {
  return sessionStorage.getItem("portal-session");
}

class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

async function api(method, path, body) {
  const headers = { Authorization: "Bearer " + session(), Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(API + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
  });
  if (response.status === 204) return null;
  const answer = await response.json().catch(() => ({ detail: response.statusText }));
  if (!response.ok) {
    if (response.status === 401) closed(answer.detail);
    throw new ApiError(response.status, answer.detail || "request failed (" + response.status + ")");
  }
  return answer;
}

function $(id) {
  return document.getElementById(id);
}

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const cell of cells) {
    const td = document.createElement("td");
    if (cell instanceof Node) td.appendChild(cell);
    else td.textContent = cell === null || cell === undefined ? "—" : String(cell);
    tr.appendChild(td);
  }
  return tr;
}

function when(text) {
  if (!text) return "—";
  const date = new Date(text);
  return isNaN(date) ? text : date.toLocaleString();
}

function say(text, isError) {
  const message = $("message");
  message.textContent = text;
  message.className = isError ? "error" : "";
}

function closed(reason) {
  $("portal").hidden = true;
  $("no-session").hidden = false;
  if (reason) $("no-session-reason").textContent = reason;
  sessionStorage.removeItem("portal-session");
}

async function guarded(what, work) {
  try {
    await work();
  } catch (error) {
    say(what + ": " + error.message, true);
  }
}

function fillValues() {
  for (const node of document.querySelectorAll(".tenant-url-value")) node.textContent = state.tenantUrl || "—";
  const token = state.newToken || "the secret token from step 1";
  for (const node of document.querySelectorAll(".token-value")) node.textContent = token;
}

async function loadOverview() {
  const overview = await api("GET", "/overview");
  $("tenant-name").textContent = "— " + overview.tenant.display_name;
  $("session-info").textContent =
    "Tenant " + overview.tenant.slug + " (region " + overview.tenant.region + "). This page's session ends " +
    when(overview.session_expires_at) + ".";
  state.tenantUrl = overview.tenant_url || "";
  $("tenant-url").value = state.tenantUrl;
  fillValues();
  const connection = overview.connection;
  const words = { never: "No request yet", on_schedule: "Syncing on schedule", overdue: "Overdue: no recent request" };
  const status = $("connection-status");
  status.textContent = words[connection.status] || connection.status;
  status.className = "status-" + connection.status;
  $("last-request").textContent = when(connection.last_request_at);
  $("idp").textContent = connection.idp || connection.user_agent || "—";
  $("last-error").textContent = connection.last_error
    ? connection.last_error + " (" + when(connection.last_error_at) + ")"
    : "—";
  const counts = overview.counts;
  $("count-users").textContent = counts.users + " (" + counts.active_users + " active)";
  $("count-groups").textContent = String(counts.groups);
  const list = $("problems");
  list.replaceChildren();
  if (overview.problems.length === 0) list.appendChild(element("li", "No problems found.", "problem"));
  for (const problem of overview.problems) {
    const item = element("li", null, "problem " + problem.severity);
    item.dataset.code = problem.code;
    item.appendChild(element("span", problem.message, "message"));
    item.appendChild(element("span", problem.fix, "fix"));
    list.appendChild(item);
  }
  renderTokens(overview.tokens);
}

function renderTokens(tokens) {
  const body = $("tokens").tBodies[0];
  body.replaceChildren();
  // A rotation is under way while its successor is not revoked (as the server counts it).
  const rotating = new Set(tokens.filter((t) => t.status !== "revoked" && t.rotation_of).map((t) => t.rotation_of));
  for (const token of tokens) {
    const actions = element("span");
    if (token.status === "active") {
      if (rotating.has(token.id)) {
        actions.appendChild(button("Finish rotation", "Finish the rotation of " + token.prefix + ": revoke it", () =>
          tokenAction("POST", "/tokens/" + token.id + "/rotate/complete", "Rotation finished: the old token is revoked.")));
        actions.appendChild(button("Cancel rotation", "Cancel the rotation of " + token.prefix, () =>
          tokenAction("POST", "/tokens/" + token.id + "/rotate/cancel", "Rotation cancelled: the new token is revoked.")));
      } else if (!token.rotation_of || !tokens.some((t) => t.id === token.rotation_of && t.status === "active")) {
        actions.appendChild(button("Rotate", "Rotate " + token.prefix, () => rotate(token)));
      }
    }
    // An expired token still counts until it is revoked.
    if (token.status !== "revoked") {
      actions.appendChild(button("Revoke", "Revoke " + token.prefix, () => revoke(token)));
    }
    const tr = row([token.prefix + "…", token.status, when(token.created_at), when(token.last_used_at),
      token.expires_at ? when(token.expires_at) : "never", actions]);
    tr.dataset.tokenId = token.id;
    body.appendChild(tr);
  }
}

function button(text, label, onClick) {
  const node = element("button", text);
  node.type = "button";
  node.setAttribute("aria-label", label);
  node.addEventListener("click", onClick);
  return node;
}

function showSecret(issued, hint) {
  state.newToken = issued.token;
  $("new-token").hidden = false;
  $("new-token-value").value = issued.token;
  $("new-token-hint").textContent = hint;
  fillValues();
  $("new-token-value").focus();
  $("new-token-value").select();
}

async function tokenAction(method, path, done) {
  await guarded("The token could not be changed", async () => {
    await api(method, path);
    say(done);
    await loadOverview();
  });
}

async function rotate(token) {
  await guarded("The token could not be rotated", async () => {
    const issued = await api("POST", "/tokens/" + token.id + "/rotate", {});
    showSecret(issued, "Paste this new token in your identity provider and test the connection; then choose " +
      "'Finish rotation' on " + token.prefix + "… to revoke the old one. Until then both work.");
    say("A new token was generated; the old one keeps working until you finish the rotation.");
    await loadOverview();
  });
}

async function revoke(token) {
  if (!confirm("Revoke " + token.prefix + "…? Your identity provider can no longer sign in with it.")) return;
  await tokenAction("DELETE", "/tokens/" + token.id, "The token " + token.prefix + "… is revoked.");
}

async function generate() {
  await guarded("No token was generated", async () => {
    const issued = await api("POST", "/tokens", {});
    showSecret(issued, "Paste it in your identity provider now (step 2): it is stored only as a hash and cannot " +
      "be shown again.");
    say("A new secret token was generated.");
    await loadOverview();
  });
}

// One page of users or groups, with the applied search: rendered, counted, the pager set.
async function loadList(kind, start, search, columns, render) {
  const query = new URLSearchParams({ start_index: start, count: state.pageSize });
  if (search) query.set("search", search);
  const page = await api("GET", "/" + kind + "?" + query);
  const items = page[kind];
  const body = $(kind).tBodies[0];
  body.replaceChildren();
  for (const item of items) body.appendChild(render(item));
  if (items.length === 0) {
    body.appendChild(row(["No " + kind + (search ? " match" : " yet"), ...Array(columns - 1).fill("")]));
  }
  $(kind + "-total").textContent = "(" + page.total + ")";
  $(kind + "-previous").disabled = start <= 1;
  $(kind + "-next").disabled = start + items.length > page.total;
}

function userRow(user) {
  const name = [user.given_name, user.family_name].filter(Boolean).join(" ") || user.display_name;
  const tr = row([user.user_name, name, user.email, user.active ? "yes" : "no", when(user.updated_at)]);
  tr.dataset.userId = user.id;
  return tr;
}

function groupRow(group) {
  const form = element("form", null, "permissions");
  const label = element("label", "Permissions of " + group.display_name, "visually-hidden");
  const input = element("input");
  input.type = "text";
  input.id = "permissions-" + group.id;
  label.htmlFor = input.id;
  input.value = group.permissions.join(", ");
  const save = element("button", "Save");
  save.type = "submit";
  save.setAttribute("aria-label", "Save the permissions of " + group.display_name);
  form.append(label, input, save);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    savePermissions(group, input.value);
  });
  const tr = row([group.display_name, group.members, form]);
  tr.dataset.groupId = group.id;
  return tr;
}

const loadUsers = () => loadList("users", state.usersStart, state.usersSearch, 5, userRow);
const loadGroups = () => loadList("groups", state.groupsStart, state.groupsSearch, 3, groupRow);

async function savePermissions(group, text) {
  const permissions = text.split(",").map((p) => p.trim()).filter(Boolean);
  await guarded("The permissions were not saved", async () => {
    const changed = await api("PUT", "/groups/" + group.id + "/permissions", { permissions });
    say("Saved: members of " + changed.group.display_name + " get " +
      (changed.group.permissions.join(", ") || "no permissions") + ". The product is being updated.");
    await loadGroups();
  });
}

async function loadLog(older) {
  if (!older) state.logBefore = null;
  const query = new URLSearchParams({ limit: state.pageSize });
  if (state.logStatus) query.set("status", state.logStatus);
  if (state.logResource) query.set("resource_type", state.logResource);
  if (state.logBefore) query.set("before", state.logBefore);
  $("log-older").disabled = true;
  const page = await api("GET", "/log?" + query);
  const body = $("log").tBodies[0];
  if (!older) body.replaceChildren();
  for (const entry of page.entries) {
    const outcome = element("span", entry.status + (entry.scim_type ? " " + entry.scim_type : ""),
      entry.status >= 400 ? "outcome-error" : "");
    const detail = [entry.detail, ...entry.warnings].filter(Boolean).join(" · ");
    const tr = row([when(entry.at), entry.method + " " + entry.path, outcome, detail || "—"]);
    tr.dataset.status = entry.status;
    body.appendChild(tr);
  }
  if (!older && page.entries.length === 0) body.appendChild(row(["No requests yet", "", "", ""]));
  state.logBefore = page.next;
  $("log-older").disabled = !page.next;
}

async function loadWebhooks() {
  const listed = await api("GET", "/webhooks");
  const body = $("webhooks").tBodies[0];
  body.replaceChildren();
  for (const endpoint of listed.webhooks) {
    const actions = element("span");
    actions.appendChild(button("Deliveries", "Show the deliveries to " + endpoint.url, () =>
      guarded("The deliveries could not load", () => loadDeliveries(endpoint))));
    if (endpoint.deliveries.dead > 0) {
      actions.appendChild(button("Send failed again", "Send the failed deliveries to " + endpoint.url + " again",
        () => replayFailed(endpoint)));
    }
    actions.appendChild(button("Remove", "Remove the endpoint " + endpoint.url, () => removeWebhook(endpoint)));
    const tr = row([endpoint.url, endpoint.description, endpoint.deliveries.pending, endpoint.deliveries.delivered,
      endpoint.deliveries.dead, actions]);
    tr.dataset.webhookId = endpoint.id;
    body.appendChild(tr);
  }
  if (listed.webhooks.length === 0) body.appendChild(row(["No endpoints yet", "", "", "", "", ""]));
}

async function loadDeliveries(endpoint) {
  const listed = await api("GET", "/webhooks/" + endpoint.id + "/deliveries?limit=" + state.pageSize);
  const table = $("webhook-deliveries");
  $("webhook-deliveries-caption").textContent = "Recent deliveries to " + endpoint.url;
  const body = table.tBodies[0];
  body.replaceChildren();
  for (const delivery of listed.deliveries) {
    const answer = delivery.last_status ? "HTTP " + delivery.last_status : delivery.last_error;
    const words = { pending: "waiting", delivered: "delivered", dead: "failed" };
    const tr = row([when(delivery.queued_at), delivery.event_type, delivery.resource,
      words[delivery.state] || delivery.state, delivery.attempts, answer]);
    tr.dataset.state = delivery.state;
    body.appendChild(tr);
  }
  if (listed.deliveries.length === 0) body.appendChild(row(["No deliveries yet", "", "", "", "", ""]));
  table.hidden = false;
}

async function addWebhook() {
  await guarded("The endpoint was not added", async () => {
    const description = $("webhook-description").value.trim();
    const made = await api("POST", "/webhooks", { url: $("webhook-url").value.trim(),
      ...(description ? { description } : {}) });
    $("new-webhook").hidden = false;
    $("new-webhook-secret").value = made.secret;
    $("new-webhook-secret").focus();
    $("new-webhook-secret").select();
    $("webhook-form").reset();
    say("Endpoint added: it receives the changes from now on. Verify each request with the signing secret.");
    await loadWebhooks();
  });
}

async function replayFailed(endpoint) {
  await guarded("The deliveries were not sent again", async () => {
    const replayed = await api("POST", "/webhooks/" + endpoint.id + "/replay", { state: "dead" });
    say(replayed.requeued + " failed deliveries to " + endpoint.url + " are sent again.");
    await loadWebhooks();
  });
}

async function removeWebhook(endpoint) {
  if (!confirm("Remove " + endpoint.url + "? It receives no more changes.")) return;
  await guarded("The endpoint was not removed", async () => {
    await api("DELETE", "/webhooks/" + endpoint.id);
    $("webhook-deliveries").hidden = true;
    say("The endpoint " + endpoint.url + " is removed.");
    await loadWebhooks();
  });
}

async function loadAll() {
  await guarded("The page could not load", async () => {
    await loadOverview();
    await Promise.all([loadUsers(), loadGroups(), loadLog(false), loadWebhooks()]);
  });
}

function wire() {
  $("generate-token").addEventListener("click", generate);
  $("refresh").addEventListener("click", async () => {
    await loadAll();
    say("Refreshed at " + new Date().toLocaleTimeString() + ".");
  });
  for (const copy of document.querySelectorAll("[data-copy]")) {
    copy.addEventListener("click", async () => {
      const field = $(copy.dataset.copy);
      field.select();
      try {
        await navigator.clipboard.writeText(field.value);
        say("Copied.");
      } catch (error) {
        say("Select the text and copy it (Ctrl+C).", true);
      }
    });
  }
  const submit = (id, work) => $(id).addEventListener("submit", (event) => {
    event.preventDefault();
    guarded("The list could not load", work);
  });
  submit("user-search", () => {
    state.usersStart = 1;
    state.usersSearch = $("user-q").value.trim();
    return loadUsers();
  });
  submit("group-search", () => {
    state.groupsStart = 1;
    state.groupsSearch = $("group-q").value.trim();
    return loadGroups();
  });
  $("webhook-form").addEventListener("submit", (event) => {
    event.preventDefault();
    addWebhook();
  });
  submit("log-filter", () => {
    state.logStatus = $("log-status").value;
    state.logResource = $("log-resource").value;
    return loadLog(false);
  });
  const page = (id, key, delta, work) => $(id).addEventListener("click", () => {
    state[key] = Math.max(1, state[key] + delta * state.pageSize);
    guarded("The list could not load", work);
  });
  page("users-previous", "usersStart", -1, loadUsers);
  page("users-next", "usersStart", 1, loadUsers);
  page("groups-previous", "groupsStart", -1, loadGroups);
  page("groups-next", "groupsStart", 1, loadGroups);
  $("log-older").addEventListener("click", () => guarded("The log could not load", () => loadLog(true)));
}

document.addEventListener("DOMContentLoaded", () => {
  takeSessionFromLink();
  if (!session()) {
    closed();
    return;
  }
  $("portal").hidden = false;
  wire();
  loadAll();
});
