// ClassTop LMS site console: plain JS over the LMS REST API (same origin). The token stays in this tab.
"use strict";

const COMMANDS = ["ping", "get_info", "get_metrics", "get_all_settings", "get_setting", "set_setting",
  "update_settings_batch", "refresh_state", "get_logs", "exec", "cctv_get_all_states"];
const EXAMPLES = { exec: { cmd: "uptime", timeout_s: 10 }, get_setting: { key: "theme_mode" },
  set_setting: { key: "theme_mode", value: "dark" }, get_logs: { lines: 50 },
  update_settings_batch: { settings: { show_clock: true } } };
const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem("lms-token") || "";
let selected = null;
let refreshTimer = null;

async function api(method, path, body) {
  const headers = { "Accept": "application/json" };
  if (token) headers["Authorization"] = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let json = null;
  try { json = await resp.json(); } catch (_) { /* not JSON */ }
  if (resp.status === 401) { signOut("Your token was not accepted."); throw new Error("unauthorized"); }
  return { status: resp.status, json };
}

function text(el, value) { el.textContent = value == null ? "" : String(value); return el; }
function cell(row, value) { row.appendChild(text(document.createElement("td"), value)); }
function ago(ts) {
  if (!ts) return "—";
  const s = Math.max(0, Date.now() / 1000 - ts);
  return s < 60 ? `${Math.round(s)} s ago` : s < 3600 ? `${Math.round(s / 60)} min ago` : new Date(ts * 1000).toLocaleString();
}

async function loadHealth() {
  const { json } = await api("GET", "/api/health");
  const d = (json && json.data) || {};
  text($("site"), `${d.tenant || ""} / ${d.site_id || ""}`);
  const cloud = d.cloud || {};
  const connected = cloud.connected ? "connected" : "disconnected";
  text($("cloud"), `cloud ${connected}${cloud.outbox_pending ? ` · ${cloud.outbox_pending} queued` : ""}`).className = `pill ${connected}`;
  const agents = d.agents || {};
  text($("counts"), `${agents.online ?? 0} of ${agents.total ?? 0} clients online`);
}

async function loadClients() {
  const path = $("only-online").checked ? "/api/clients/online" : "/api/clients/";
  const { status, json } = await api("GET", path);
  if (status !== 200) return;
  const clients = (json.data && json.data.clients) || [];
  const body = $("clients").querySelector("tbody");
  body.replaceChildren();
  for (const c of clients) {
    const row = document.createElement("tr");
    row.dataset.uuid = c.uuid;
    if (c.uuid === selected) row.className = "selected";
    cell(row, c.name && c.name !== c.uuid ? `${c.uuid} (${c.name})` : c.uuid);
    const st = document.createElement("td");
    const pill = text(document.createElement("span"), c.status);
    pill.className = `pill ${c.status}`;
    st.appendChild(pill);
    row.appendChild(st);
    cell(row, c.hostname || "—");
    cell(row, c.version || "—");
    cell(row, ago(c.last_seen));
    row.addEventListener("click", () => select(c));
    body.appendChild(row);
  }
  $("clients-empty").hidden = clients.length > 0;
}

async function select(client) {
  selected = client.uuid;
  $("detail").hidden = false;
  text($("detail-title"), client.name && client.name !== client.uuid ? `${client.uuid} (${client.name})` : client.uuid);
  text($("detail-status"), client.status).className = `pill ${client.status}`;
  text($("result"), "");
  for (const row of $("clients").querySelectorAll("tbody tr")) row.classList.toggle("selected", row.dataset.uuid === selected);
  await loadSettings();
  await loadCameras();
}

// Cameras of the selected client: live view through the LMS's MJPEG proxy. An <img> sends no headers, so
// the token goes in ?token= (the LMS accepts it on the video paths only).
function liveUrl(uuid, cameraId) {
  return `/api/cctv/${encodeURIComponent(uuid)}/cameras/${encodeURIComponent(cameraId)}/live?token=${encodeURIComponent(token)}`;
}

function stopVideos() {
  for (const img of $("cameras").querySelectorAll("img")) img.removeAttribute("src");  // closes the stream
}

async function loadCameras() {
  stopVideos();
  $("cameras").replaceChildren();
  text($("cameras-note"), "");
  if (!selected) return;
  const uuid = selected;
  const { json } = await api("GET", `/api/cctv/${encodeURIComponent(uuid)}/state`);
  if (uuid !== selected) return;
  if (!json || !json.success) {
    const why = json && json.error_code === "not_supported" ? "cameras are not enabled on this client"
      : (json && (json.error || json.detail)) || "no answer";
    text($("cameras-note"), `No cameras: ${why}.`);
    return;
  }
  const cameras = (json.data && json.data.cameras) || [];
  if (!cameras.length) { text($("cameras-note"), "This client has no cameras configured."); return; }
  for (const cam of cameras) {
    const box = document.createElement("div");
    box.className = "camera";
    box.dataset.camera = cam.camera_id;
    const head = document.createElement("div");
    head.className = "row";
    head.appendChild(text(document.createElement("strong"), cam.name ? `${cam.camera_id} (${cam.name})` : cam.camera_id));
    const pill = text(document.createElement("span"), `${cam.state}${cam.recording ? " · rec" : ""}`);
    pill.className = `pill ${cam.state === "running" ? "online" : "offline"}`;
    head.appendChild(pill);
    box.appendChild(head);
    const img = document.createElement("img");
    img.alt = `live view of ${cam.camera_id}`;
    const watch = text(document.createElement("button"), cam.streaming ? "Stop" : "Watch");
    watch.type = "button";
    watch.className = "watch";
    watch.addEventListener("click", () => toggleLive(uuid, cam, img, watch));
    box.appendChild(watch);
    box.appendChild(img);
    $("cameras").appendChild(box);
    if (cam.streaming) img.src = liveUrl(uuid, cam.camera_id);
  }
}

async function toggleLive(uuid, cam, img, button) {
  const watching = img.hasAttribute("src");
  const control = `/api/cctv/${encodeURIComponent(uuid)}/control`;
  button.disabled = true;
  try {
    if (watching) {
      img.removeAttribute("src");
      await api("POST", control, { action: "stop_streaming", camera_id: cam.camera_id });
      text(button, "Watch");
      return;
    }
    const { json } = await api("POST", control, { action: "start_streaming", camera_id: cam.camera_id });
    if (!json || !json.success) {
      text($("cameras-note"), `Cannot start ${cam.camera_id}: ${(json && (json.error || json.detail)) || "no answer"}`);
      return;
    }
    img.src = liveUrl(uuid, cam.camera_id);
    text(button, "Stop");
  } finally { button.disabled = false; }
}

async function loadSettings() {
  const body = $("settings").querySelector("tbody");
  body.replaceChildren();
  if (!selected) return;
  const { status, json } = await api("GET", `/api/settings/${encodeURIComponent(selected)}`);
  const settings = status === 200 && json.success ? (json.data || {}) : {};
  for (const [key, value] of Object.entries(settings).sort()) {
    const row = document.createElement("tr");
    cell(row, key); cell(row, value);
    const edit = document.createElement("td");
    const btn = text(document.createElement("button"), "Edit");
    btn.className = "link";
    btn.addEventListener("click", () => { $("setting-key").value = key; $("setting-value").value = value; });
    edit.appendChild(btn); row.appendChild(edit); body.appendChild(row);
  }
}

async function sendCommand(ev) {
  ev.preventDefault();
  if (!selected) return;
  let params;
  try { params = JSON.parse($("params").value || "{}"); }
  catch (e) { text($("result"), `Params are not valid JSON: ${e.message}`).className = "result failed"; return; }
  $("send").disabled = true;
  text($("result"), "running…").className = "result";
  try {
    const { status, json } = await api("POST", `/api/clients/${encodeURIComponent(selected)}/command`,
      { command: $("command").value, params });
    const ok = json && json.success;
    const shown = ok ? json.data : (json || { error: `HTTP ${status}` });
    text($("result"), typeof shown === "string" ? shown : JSON.stringify(shown, null, 2)).className = ok ? "result" : "result failed";
    if (ok && $("command").value.includes("setting")) await loadSettings();
  } finally { $("send").disabled = false; }
}

async function setSetting(ev) {
  ev.preventDefault();
  if (!selected) return;
  const key = $("setting-key").value.trim();
  const { json } = await api("PUT", `/api/settings/${encodeURIComponent(selected)}/${encodeURIComponent(key)}`,
    { value: $("setting-value").value });
  text($("result"), JSON.stringify(json, null, 2)).className = json && json.success ? "result" : "result failed";
  await loadSettings();
}

async function refresh() {
  try { await Promise.all([loadHealth(), loadClients()]); } catch (_) { /* shown on next tick */ }
}

async function signIn(candidate) {
  token = candidate;
  const { status } = await fetch("/api/clients/", { headers: { Authorization: `Bearer ${token}` } })
    .then((r) => ({ status: r.status }));
  if (status === 401 || status === 403) { signOut("That token was not accepted."); return; }
  sessionStorage.setItem("lms-token", token);
  $("login").hidden = true; $("app").hidden = false; $("logout").hidden = false;
  await refresh();
  clearInterval(refreshTimer);
  refreshTimer = setInterval(refresh, 3000);
}

function signOut(message) {
  stopVideos();
  token = ""; sessionStorage.removeItem("lms-token"); clearInterval(refreshTimer);
  $("app").hidden = true; $("logout").hidden = true; $("login").hidden = false;
  text($("login-error"), message || "");
}

function init() {
  for (const name of COMMANDS) { const o = document.createElement("option"); o.value = o.textContent = name; $("command").appendChild(o); }
  $("command").addEventListener("change", () => { $("params").value = JSON.stringify(EXAMPLES[$("command").value] || {}); });
  $("command-form").addEventListener("submit", sendCommand);
  $("setting-form").addEventListener("submit", setSetting);
  $("only-online").addEventListener("change", loadClients);
  $("cameras-refresh").addEventListener("click", () => loadCameras().catch(() => {}));
  $("login-form").addEventListener("submit", (ev) => { ev.preventDefault(); signIn($("token").value.trim()); });
  $("logout").addEventListener("click", () => signOut(""));
  if (token) signIn(token); else signOut("");
  loadHealth().catch(() => {});
}

document.addEventListener("DOMContentLoaded", init);
