// xactor web client: pick or upload a portrait, stream the microphone, watch the portrait speak.
// Plain ES module, no build step. State lives in `window.xactor` (handy for tests and debugging).

const $ = (id) => document.getElementById(id);

const state = {
  config: null,
  avatarId: null,
  pc: null,
  mic: null,
  sessionId: null,
  statsTimer: null,
  prev: null, // previous inbound video stats, for rates
  lastStats: null, // {client: {...}, server: {...}}
  thumbs: [],
  avatars: {}, // id -> the avatar as /avatars lists it (its renderers)
};
window.xactor = state;

// ---- HTTP ------------------------------------------------------------------------------------------
function authHeaders(extra = {}) {
  const token = $("token").value.trim();
  return token ? { ...extra, Authorization: `Bearer ${token}` } : extra;
}

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: authHeaders(options.headers || {}) });
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      const body = await response.json();
      const detail = body.detail;
      message = (detail && (detail.message || (typeof detail === "string" ? detail : JSON.stringify(detail)))) || message;
    } catch (_) { /* not JSON */ }
    const error = new Error(message);
    error.status = response.status;
    error.retryAfter = response.headers.get("Retry-After");
    throw error;
  }
  return response;
}

// RTCIceServer objects from /client-config; TURN credentials only where given (a null would become "null").
function iceServers(servers) {
  return servers.map(({ urls, username, credential }) => (username ? { urls, username, credential } : { urls }));
}

// The last 100 motion frames (4 s) as three traces: what a rig driven by the channel would do.
const TRACES = [
  ["jawOpen", "#e8a33d", (v) => v],
  ["eyeBlinkLeft", "#58a6ff", (v) => v],
  ["headYaw", "#7ee787", (v) => 0.5 + v], // radians around the middle
];
function drawMotion() {
  const canvas = $("motion-plot");
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const frames = state.motion || [];
  for (const [name, color, scale] of TRACES) {
    ctx.strokeStyle = color;
    ctx.beginPath();
    frames.forEach((f, i) => {
      const x = (i / 99) * canvas.width;
      const y = canvas.height * (1 - Math.min(Math.max(scale(f.coefficients[name] ?? 0), 0), 1));
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    });
    ctx.stroke();
  }
}

function setStatus(text, isError = false) {
  const el = $("status");
  el.textContent = text;
  el.classList.toggle("error", isError);
}

// ---- avatars ---------------------------------------------------------------------------------------
async function loadAvatars() {
  let list;
  try {
    list = await (await api("/avatars")).json();
  } catch (error) {
    setStatus(`cannot list portraits: ${error.message}`, true);
    return;
  }
  state.thumbs.forEach((url) => URL.revokeObjectURL(url));
  state.thumbs = [];
  const ul = $("avatar-list");
  ul.replaceChildren();
  const ids = list.avatars.map((a) => a.id);
  if (!ids.includes(state.avatarId)) state.avatarId = list.default_id || ids[0] || null;
  state.avatars = Object.fromEntries(list.avatars.map((a) => [a.id, a]));
  for (const avatar of list.avatars) {
    const li = document.createElement("li");
    li.dataset.id = avatar.id;
    li.title = avatar.credit ? `${avatar.name} — ${avatar.credit}` : avatar.name;
    li.classList.toggle("selected", avatar.id === state.avatarId);
    const img = document.createElement("img");
    img.alt = avatar.name;
    const label = avatar.procedural_seed == null ? avatar.name : `${avatar.name} (procedural)`;
    li.append(img, document.createTextNode(label));
    li.addEventListener("click", () => selectAvatar(avatar.id));
    ul.append(li);
    api(`/avatars/${avatar.id}/crop.png?size=256`)
      .then((r) => r.blob())
      .then((blob) => {
        const url = URL.createObjectURL(blob);
        state.thumbs.push(url);
        img.src = url;
      })
      .catch(() => {});
  }
  offerRenderers();
}

function selectAvatar(id) {
  state.avatarId = id;
  for (const li of $("avatar-list").children) li.classList.toggle("selected", li.dataset.id === id);
  offerRenderers();
}

// The renderers the chosen avatar takes (the diffusion renderer only runs on procedural avatars).
function offerRenderers() {
  const avatar = (state.avatars || {})[state.avatarId];
  const choices = avatar ? avatar.renderers : ["warp"];
  const current = $("opt-renderer").value;
  const fallback = choices.includes(state.config?.defaults?.renderer) ? state.config.defaults.renderer : choices[0];
  fillSelect($("opt-renderer"), choices, choices.includes(current) ? current : fallback);
}

async function upload(event) {
  event.preventDefault();
  const file = $("upload-file").files[0];
  const status = $("upload-status");
  if (!file) {
    status.textContent = "choose a picture first";
    return;
  }
  const form = new FormData();
  form.append("file", file);
  status.textContent = "preparing…";
  status.classList.remove("error");
  try {
    const avatar = await (await api("/avatars", { method: "POST", body: form })).json();
    status.textContent = `added ${avatar.name}`;
    state.avatarId = avatar.id;
    await loadAvatars();
  } catch (error) {
    status.textContent = error.message;
    status.classList.add("error");
  }
}

// ---- session ---------------------------------------------------------------------------------------
function options() {
  const emotion = $("opt-emotion").disabled ? "" : $("opt-emotion").value; // heuristic: no emotion
  return {
    lookahead: Number($("opt-lookahead").value),
    resolution: Number($("opt-resolution").value),
    codec: $("opt-codec").value,
    bitrate: Math.round(Number($("opt-bitrate").value) * 1000),
    return_audio: $("opt-return-audio").checked,
    motion_source: $("opt-motion-source").value,
    renderer: $("opt-renderer").value,
    emotion: emotion || null, // null: the generator infers it from the voice
    emotion_intensity: emotion ? Number($("opt-emotion-intensity").value) : null,
  };
}

// Fill a <select> with `values` (keeping its first option when `keepFirst`), then select `chosen`.
function fillSelect(select, values, chosen, keepFirst = false) {
  const first = keepFirst ? [select.options[0]] : [];
  select.replaceChildren(...first);
  for (const value of values) select.append(new Option(value, value));
  select.value = chosen == null ? (keepFirst ? "" : values[0]) : chosen;
}

function iceGatheringDone(pc, timeoutMs = 2000) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, timeoutMs);
    function done() {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", check);
      resolve();
    }
    function check() {
      if (pc.iceGatheringState === "complete") done();
    }
    pc.addEventListener("icegatheringstatechange", check);
  });
}

async function start() {
  if (state.pc) return;
  $("start").disabled = true;
  const opts = options();
  try {
    setStatus("asking for the microphone…");
    state.mic = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
    });
    const pc = (state.pc = new RTCPeerConnection({ iceServers: iceServers(state.config.ice_servers) }));
    const micTrack = state.mic.getAudioTracks()[0];
    pc.addTransceiver(micTrack, { direction: opts.return_audio ? "sendrecv" : "sendonly", streams: [state.mic] });
    pc.addTransceiver("video", { direction: "recvonly" });
    const motion = pc.createDataChannel("motion"); // each frame's motion, for rigs and the plot
    state.motion = [];
    motion.onmessage = (event) => {
      state.motion.push(JSON.parse(event.data));
      if (state.motion.length > 100) state.motion.shift();
      state.motionFrames = (state.motionFrames || 0) + 1;
    };
    const remote = new MediaStream();
    pc.ontrack = (event) => {
      remote.addTrack(event.track);
      const video = $("video");
      if (video.srcObject !== remote) video.srcObject = remote;
      if (event.track.kind === "audio") video.muted = false; // return audio plays with the picture
      video.play().catch(() => {});
    };
    pc.onconnectionstatechange = () => {
      setStatus(pc.connectionState);
      if (pc.connectionState === "failed") stop("connection failed");
    };
    $("video").onplaying = () => { $("placeholder").hidden = true; };

    setStatus("connecting…");
    await pc.setLocalDescription(await pc.createOffer());
    await iceGatheringDone(pc);
    const response = await api("/sessions", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ sdp: pc.localDescription.sdp, type: "offer", avatar_id: state.avatarId || "default", options: opts }),
    });
    const answer = await response.json();
    state.sessionId = answer.session_id;
    await pc.setRemoteDescription({ type: answer.type, sdp: answer.sdp });
    $("stop").disabled = false;
    showSessionTools(state.sessionId);
    state.prev = null;
    state.statsTimer = setInterval(updateStats, 1000);
    state.plotTimer = setInterval(drawMotion, 100);
  } catch (error) {
    const busy = error.status === 503 && error.retryAfter ? ` (try again in ${error.retryAfter} s)` : "";
    await stop();
    setStatus(`${error.message}${busy}`, true);
  }
}

// Presenter mode and the WHEP viewer link of the running session.
function showSessionTools(id) {
  $("say").hidden = !id;
  $("watch").hidden = !id;
  if (!id) return;
  const url = `${location.origin}/viewer.html?session=${id}`;
  $("watch-link").href = url;
  $("watch-link").textContent = url;
}

async function say(event) {
  event.preventDefault();
  const text = $("say-text").value.trim();
  if (!text || !state.sessionId) return;
  try {
    await api(`/sessions/${state.sessionId}/say`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ text }),
    });
    $("say-text").value = "";
  } catch (error) {
    setStatus(`say: ${error.message}`, true);
  }
}

async function stopSaying() {
  if (!state.sessionId) return;
  try {
    await api(`/sessions/${state.sessionId}/clear`, { method: "POST" });
  } catch (error) {
    setStatus(`clear: ${error.message}`, true);
  }
}

async function stop(reason) {
  showSessionTools(null);
  clearInterval(state.statsTimer);
  state.statsTimer = null;
  clearInterval(state.plotTimer);
  const id = state.sessionId;
  state.sessionId = null;
  if (id) api(`/sessions/${id}`, { method: "DELETE", keepalive: true }).catch(() => {});
  if (state.pc) state.pc.close();
  state.pc = null;
  if (state.mic) state.mic.getTracks().forEach((t) => t.stop());
  state.mic = null;
  $("video").srcObject = null;
  $("placeholder").hidden = false;
  $("start").disabled = false;
  $("stop").disabled = true;
  setStatus(typeof reason === "string" ? reason : "idle");
}

// ---- stats -----------------------------------------------------------------------------------------
const ms = (x) => (x == null || Number.isNaN(x) ? "–" : `${Math.round(x)} ms`);
const pair = (s) => (s ? `${Math.round(s.p50)} / ${Math.round(s.p95)} ms` : "–");

async function updateStats() {
  const pc = state.pc;
  if (!pc) return;
  const client = {};
  const report = await pc.getStats();
  let inbound = null;
  let candidatePair = null;
  let remoteInbound = null;
  report.forEach((s) => {
    if (s.type === "inbound-rtp" && (s.kind || s.mediaType) === "video") inbound = s;
    if (s.type === "candidate-pair" && s.state === "succeeded" && (s.nominated || s.selected)) candidatePair = s;
    if (s.type === "remote-inbound-rtp" && s.roundTripTime != null) remoteInbound = s;
  });
  if (inbound) {
    if (state.prev && inbound.timestamp > state.prev.timestamp) {
      client.fps = ((inbound.framesDecoded - state.prev.framesDecoded) * 1000) / (inbound.timestamp - state.prev.timestamp);
    }
    if (inbound.jitterBufferEmittedCount) {
      client.jitterBufferMs = (1000 * inbound.jitterBufferDelay) / inbound.jitterBufferEmittedCount;
    }
    client.framesDecoded = inbound.framesDecoded;
    client.width = inbound.frameWidth;
    state.prev = { timestamp: inbound.timestamp, framesDecoded: inbound.framesDecoded };
  }
  if (candidatePair && candidatePair.currentRoundTripTime != null) client.rttMs = 1000 * candidatePair.currentRoundTripTime;
  else if (remoteInbound) client.rttMs = 1000 * remoteInbound.roundTripTime;

  let server = null;
  if (state.sessionId) {
    try {
      server = await (await api(`/sessions/${state.sessionId}`)).json();
    } catch (_) { /* the session may just have ended */ }
  }
  state.lastStats = { client, server };

  $("s-fps").textContent = client.fps != null ? client.fps.toFixed(1) : "–";
  $("s-rtt").textContent = ms(client.rttMs);
  $("s-jb").textContent = ms(client.jitterBufferMs);
  if (server) {
    $("s-server-fps").textContent = server.fps.toFixed(1);
    $("s-server-lat").textContent = pair(server.latency_ms.audio_to_encoder);
    $("s-own-lat").textContent = pair(server.latency_ms.own_audio_to_encoder);
    const dropped = server.frames_dropped.worker_behind + server.frames_dropped.superseded;
    $("s-drops").textContent = `${dropped} / ${server.frames_repeated}`;
    $("s-codec").textContent = `${server.codec}, ${server.options.resolution} px, ${server.encoder.kbps} kbit/s`;
    $("s-speech").value = server.audio.speech;
    const motion = server.motion_source || {};
    const cell = $("s-motion");
    cell.textContent = motion.fallback ? `${motion.name} (fallback)` : motion.name || "–";
    cell.title = motion.fallback || motion.weights || "";
  }
}

// ---- start-up --------------------------------------------------------------------------------------
async function init() {
  const saved = localStorage.getItem("xactor-token");
  if (saved) $("token").value = saved;
  $("token").addEventListener("change", () => {
    localStorage.setItem("xactor-token", $("token").value.trim());
    loadAvatars();
  });
  try {
    state.config = await (await fetch("/client-config")).json();
  } catch (error) {
    setStatus(`server unreachable: ${error.message}`, true);
    return;
  }
  const d = state.config.defaults;
  $("opt-lookahead").value = d.lookahead;
  $("opt-resolution").value = String(d.resolution);
  $("opt-codec").value = d.codec;
  $("opt-bitrate").value = Math.round(d.bitrate / 1000);
  $("opt-return-audio").checked = d.return_audio;
  // The server lists what it has registered and validates the choice (unknown names are a 422).
  fillSelect($("opt-motion-source"), state.config.motion_sources || ["generator", "heuristic"], d.motion_source);
  fillSelect($("opt-emotion"), state.config.emotions || [], d.emotion, true);
  $("opt-emotion-intensity").value = d.emotion_intensity ?? 1;
  const emotionApplies = () => { // only the learned generator acts an emotion
    const off = $("opt-motion-source").value === "heuristic";
    $("opt-emotion").disabled = off;
    $("opt-emotion-intensity").disabled = off;
  };
  $("opt-motion-source").addEventListener("change", emotionApplies);
  emotionApplies();
  document.querySelector(".token").hidden = !state.config.token_required;
  $("start").addEventListener("click", start);
  $("stop").addEventListener("click", () => stop());
  $("say").addEventListener("submit", say);
  $("say-stop").addEventListener("click", stopSaying);
  $("upload").addEventListener("submit", upload);
  window.addEventListener("pagehide", () => stop());
  await loadAvatars();
  document.body.dataset.ready = "1";
  watchWarmUp();
}

// The server answers at once but spends its first seconds warming up (GET /ready: 503 until then);
// a session started meanwhile waits for that work, so say so instead of seeming stuck.
const WARMING = "server warming up: the first session may wait a few seconds";
async function watchWarmUp() {
  for (;;) {
    let warming = false;
    try {
      warming = (await fetch("/ready")).status === 503;
    } catch (error) {
      return; // unreachable: the start-up check above reports that
    }
    if (!warming) {
      if ($("status").textContent === WARMING) setStatus("idle");
      return;
    }
    if ($("status").textContent === "idle") setStatus(WARMING);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

init();
