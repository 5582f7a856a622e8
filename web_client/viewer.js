// WHEP viewer: watch a live session's avatar (video + audio). Usable as an OBS Browser Source.
//   /viewer.html?session=<id>        a given session
//   /viewer.html?session=latest      the newest open session, and the next one when it ends
//   &token=<token>                   when the server runs with XACTOR_TOKEN
//   &transparent=1                   no black background (for overlays)
const params = new URLSearchParams(location.search);
const token = params.get("token") || "";
const wanted = params.get("session") || "latest";
const video = document.getElementById("video");
const statusLine = document.getElementById("status");
const unmute = document.getElementById("unmute");
if (params.get("transparent")) document.body.classList.add("transparent");

const headers = (extra = {}) => (token ? { ...extra, Authorization: `Bearer ${token}` } : extra);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const show = (text) => { statusLine.textContent = text; };

async function sessionId() {
  if (wanted !== "latest") return wanted;
  const response = await fetch("/sessions", { headers: headers() });
  if (!response.ok) throw new Error(`GET /sessions: ${response.status}`);
  const open = (await response.json()).filter((s) => !s.closing);
  open.sort((a, b) => b.created - a.created);
  return open.length ? open[0].id : null;
}

function iceComplete(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    pc.addEventListener("icegatheringstatechange", () => pc.iceGatheringState === "complete" && resolve());
    setTimeout(resolve, 2000);
  });
}

async function watch(id) {
  const config = await (await fetch("/client-config")).json();
  const iceServers = config.ice_servers.map(({ urls, username, credential }) => (username ? { urls, username, credential } : { urls }));
  const pc = new RTCPeerConnection({ iceServers });
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.addTransceiver("audio", { direction: "recvonly" });
  const stream = new MediaStream();
  pc.ontrack = (event) => { stream.addTrack(event.track); video.srcObject = stream; };
  await pc.setLocalDescription(await pc.createOffer());
  await iceComplete(pc); // the server takes no trickled candidates
  const response = await fetch(`/sessions/${id}/whep`, {
    method: "POST",
    headers: headers({ "Content-Type": "application/sdp" }),
    body: pc.localDescription.sdp,
  });
  if (response.status !== 201) {
    pc.close();
    throw new Error(`WHEP ${response.status}: ${await response.text()}`);
  }
  const resource = response.headers.get("Location");
  await pc.setRemoteDescription({ type: "answer", sdp: await response.text() });
  window.xactorViewer = { pc, resource, sessionId: id };
  video.play().catch(() => { // no sound without a gesture in a plain browser (OBS allows it)
    video.muted = true;
    video.play();
    unmute.style.display = "block";
  });
  show("");
  await new Promise((resolve) => {
    pc.addEventListener("connectionstatechange", () => ["failed", "closed", "disconnected"].includes(pc.connectionState) && resolve());
  });
  window.addEventListener("pagehide", () => fetch(resource, { method: "DELETE", headers: headers(), keepalive: true }));
  pc.close();
}

unmute.addEventListener("click", () => { video.muted = false; unmute.style.display = "none"; });

for (;;) { // watch, and when the session ends (or none is open yet), look again
  try {
    const id = await sessionId();
    if (id) await watch(id);
    else show("waiting for a live session…");
  } catch (error) {
    show(String(error.message || error));
  }
  await sleep(2000);
}
