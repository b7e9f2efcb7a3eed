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
let selectedKind = "";
let refreshTimer = null;
// ClassTop (kind "legacy") camera preview: the client sends frames over its WebSocket, the LMS keeps the latest.
const PREVIEW_FPS = 2;
const PREVIEW_POLL_MS = 500;
const PREVIEW_STALE_S = 10;
const MAX_CAMERA_INDEX = 63;
let preview = null;  // {uuid, index, stale, lastAt, lastChange, timer} while a preview runs
let previewGen = 0;  // bumped by stopPreview: a start still in flight sees it and undoes itself

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

// Open alerts (docs/alerts.md): one line, the most severe first; gone when none is open.
const SEVERITY_RANK = { critical: 3, error: 2, warning: 1, info: 0 };
async function loadAlerts() {
  const { status, json } = await api("GET", "/api/alerts?state=open&limit=200");
  const banner = $("alerts-banner");
  const alerts = (status === 200 && json && json.data && json.data.alerts) || [];
  if (!alerts.length) { banner.hidden = true; banner.replaceChildren(); return; }
  alerts.sort((a, b) => (SEVERITY_RANK[b.severity] ?? 0) - (SEVERITY_RANK[a.severity] ?? 0) || b.opened_at - a.opened_at);
  const top = alerts[0];
  const where = top.target && top.target.agent_id ? ` on ${top.target.agent_id}` : " on the site";
  const more = alerts.length > 1 ? ` (+${alerts.length - 1} more)` : "";
  text(banner, `${alerts.length} open alert${alerts.length > 1 ? "s" : ""}: ${top.severity} — ${top.rule_name}${where}` +
    `${top.message ? `: ${top.message}` : ""}${top.state === "acknowledged" ? " (acknowledged)" : ""}${more}`);
  banner.className = `banner ${top.severity}`;
  banner.hidden = false;
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
  stopVideos();
  stopPreview();  // the previous client's camera stops sending frames
  $("cameras").replaceChildren();
  $("preview").hidden = true;  // shown again by loadCameras for a ClassTop client
  text($("cameras-note"), "");
  selected = client.uuid;
  selectedKind = client.kind || "";
  $("detail").hidden = false;
  text($("detail-title"), client.name && client.name !== client.uuid ? `${client.uuid} (${client.name})` : client.uuid);
  text($("detail-status"), client.status).className = `pill ${client.status}`;
  text($("result"), "");
  for (const row of $("clients").querySelectorAll("tbody tr")) row.classList.toggle("selected", row.dataset.uuid === selected);
  await loadSettings();
  await loadCameras();
}

// Cameras of the selected client: live view through the LMS's MJPEG proxy. An <img> sends no headers and the
// token must never be in a URL (logs, history, Referer): the LMS mints a short-lived ticket for that one path.
async function liveUrl(uuid, cameraId) {
  const path = `/api/cctv/${encodeURIComponent(uuid)}/cameras/${encodeURIComponent(cameraId)}/live`;
  const { json } = await api("POST", "/api/cctv/tickets", { path });
  if (!json || !json.success) throw new Error((json && (json.error || json.detail)) || "no video ticket");
  return json.data.url;
}

async function showLive(uuid, cam, img) {
  try {
    const url = await liveUrl(uuid, cam.camera_id);
    if (uuid === selected) img.src = url;
  } catch (err) {
    text($("cameras-note"), `Cannot show ${cam.camera_id}: ${err.message}`);
  }
}

function stopVideos() {
  for (const img of $("cameras").querySelectorAll("img")) img.removeAttribute("src");  // closes the stream
}

async function loadCameras() {
  stopVideos();
  stopPreview();
  $("cameras").replaceChildren();
  $("preview").hidden = true;
  text($("cameras-note"), "");
  if (!selected) return;
  if (selectedKind === "legacy") { $("preview").hidden = false; return; }
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
    if (cam.streaming) showLive(uuid, cam, img);
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
    await showLive(uuid, cam, img);
    text(button, "Stop");
  } finally { button.disabled = false; }
}

// ClassTop desktop clients: camera_start_preview through the command API, then poll the latest frame.
function commandPath(uuid) { return `/api/clients/${encodeURIComponent(uuid)}/command`; }
function framePath(uuid) { return `/api/legacy/${encodeURIComponent(uuid)}/camera/frame`; }

function commandError(status, json) {
  const code = json && json.error_code;
  if (code === "agent_offline") return "the client is offline";
  if (code === "unknown_agent") return "the LMS does not know this client";
  if (code === "timeout") return "the client did not answer in time";
  if (status === 403) return "your token may not send commands";
  if (json && json.success && json.data && json.data.success === false) {
    return `the client refused${json.data.error ? `: ${json.data.error}` : ""}`;
  }
  return (json && (json.error || json.detail)) || `HTTP ${status}`;
}

function previewIndex() {
  const raw = $("preview-index").value.trim();
  if (!/^\d{1,2}$/.test(raw) || Number(raw) > MAX_CAMERA_INDEX) return null;
  return Number(raw);
}

function clearPreviewView() {
  $("preview-img").removeAttribute("src");
  $("preview-img").hidden = true;
  text($("preview-caption"), "");
  text($("preview-toggle"), "Preview");
}

async function togglePreview() {
  if (preview) {
    $("preview-toggle").disabled = true;
    try { await stopPreview(true); } finally { $("preview-toggle").disabled = false; }
    return;
  }
  const uuid = selected;
  if (!uuid) return;
  const index = previewIndex();
  if (index === null) { text($("cameras-note"), `The camera index must be a whole number from 0 to ${MAX_CAMERA_INDEX}.`); return; }
  const gen = ++previewGen;
  const button = $("preview-toggle");
  button.disabled = true;
  text($("cameras-note"), `Starting the preview of camera ${index}…`);
  try {
    const before = await api("GET", framePath(uuid));  // a frame left from an earlier preview is not shown
    const stale = before.status === 200 && before.json && before.json.data ? before.json.data.received_at : null;
    const { status, json } = await api("POST", commandPath(uuid),
      { command: "camera_start_preview", params: { camera_index: index, fps: PREVIEW_FPS } });
    const started = status === 200 && json && json.success && !(json.data && json.data.success === false);
    if (gen !== previewGen || uuid !== selected) {  // stopped, signed out or another client selected meanwhile
      if (started && token) api("POST", commandPath(uuid), { command: "camera_stop_preview", params: {} }).catch(() => {});
      return;
    }
    if (!started) { text($("cameras-note"), `Cannot start the preview: ${commandError(status, json)}.`); return; }
    preview = { uuid, index, stale, lastAt: null, lastChange: Date.now(), timer: null };
    text(button, "Stop");
    text($("cameras-note"), `Waiting for the first frame from camera ${index}…`);
    pollPreview(preview);
  } catch (e) {
    if (gen === previewGen && e.message !== "unauthorized") text($("cameras-note"), `Cannot start the preview: ${e.message}.`);
  } finally { button.disabled = false; }
}

async function pollPreview(p) {
  if (preview !== p) return;
  try {
    const { status, json } = await api("GET", framePath(p.uuid));
    if (preview !== p) return;
    const frame = status === 200 && json && json.success ? json.data : null;
    if (frame && frame.received_at !== p.stale) {
      if (typeof frame.frame !== "string" || !/^[A-Za-z0-9+/=]+$/.test(frame.frame)) {
        text($("cameras-note"), "The client sent a frame that is not a base64 JPEG.");
      } else if (frame.received_at !== p.lastAt) {
        $("preview-img").src = `data:image/jpeg;base64,${frame.frame}`;
        $("preview-img").hidden = false;
        p.lastAt = frame.received_at;
        p.lastChange = Date.now();
        text($("cameras-note"), "");
      } else if (Date.now() - p.lastChange > PREVIEW_STALE_S * 1000) {
        text($("cameras-note"), "No new frame for a while: is the client still online?");
      }
      text($("preview-caption"), `camera ${frame.camera_index} · frame received ${ago(frame.received_at)}`);
    } else if (frame || status === 404) {
      text($("cameras-note"), `Waiting for the first frame from camera ${p.index}…`);
    } else {
      text($("cameras-note"), `Cannot read the preview frame: ${commandError(status, json)}.`);
    }
  } catch (e) {
    if (preview === p && e.message !== "unauthorized") text($("cameras-note"), `Cannot read the preview frame: ${e.message}.`);
  }
  if (preview === p) p.timer = setTimeout(() => pollPreview(p), PREVIEW_POLL_MS);
}

// Ends the preview (polling at once, the client's frames with camera_stop_preview); never throws.
async function stopPreview(report = false) {
  previewGen += 1;
  const p = preview;
  preview = null;
  clearPreviewView();
  if (!p) return;
  clearTimeout(p.timer);
  if (!token) return;
  try {
    const { status, json } = await api("POST", commandPath(p.uuid), { command: "camera_stop_preview", params: {} });
    const ok = status === 200 && json && json.success && !(json.data && json.data.success === false);
    if (report && p.uuid === selected && !preview) {
      text($("cameras-note"), ok ? "Preview stopped." : `Stopping the preview failed: ${commandError(status, json)}.`);
    }
  } catch (_) { /* signed out or the LMS went away: nothing more to do */ }
}

// Closing the tab: ask the client to stop sending frames (keepalive lets the request outlive the page).
function stopPreviewOnExit() {
  if (!preview || !token) return;
  fetch(commandPath(preview.uuid), { method: "POST", keepalive: true,
    headers: { "Authorization": `Bearer ${token}`, "Content-Type": "application/json" },
    body: JSON.stringify({ command: "camera_stop_preview", params: {} }) }).catch(() => {});
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
  try { await Promise.all([loadHealth(), loadClients(), loadAlerts()]); } catch (_) { /* shown on next tick */ }
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
  stopPreview();  // sends camera_stop_preview with the token still set
  token = ""; sessionStorage.removeItem("lms-token"); clearInterval(refreshTimer);
  $("app").hidden = true; $("logout").hidden = true; $("login").hidden = false; $("alerts-banner").hidden = true;
  text($("login-error"), message || "");
}

function init() {
  for (const name of COMMANDS) { const o = document.createElement("option"); o.value = o.textContent = name; $("command").appendChild(o); }
  $("command").addEventListener("change", () => { $("params").value = JSON.stringify(EXAMPLES[$("command").value] || {}); });
  $("command-form").addEventListener("submit", sendCommand);
  $("setting-form").addEventListener("submit", setSetting);
  $("only-online").addEventListener("change", loadClients);
  $("cameras-refresh").addEventListener("click", () => loadCameras().catch(() => {}));
  $("preview-toggle").addEventListener("click", () => togglePreview().catch(() => {}));
  window.addEventListener("pagehide", stopPreviewOnExit);
  $("login-form").addEventListener("submit", (ev) => { ev.preventDefault(); signIn($("token").value.trim()); });
  $("logout").addEventListener("click", () => signOut(""));
  if (token) signIn(token); else signOut("");
  loadHealth().catch(() => {});
}

document.addEventListener("DOMContentLoaded", init);
