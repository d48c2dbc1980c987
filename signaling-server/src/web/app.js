// termmeet in a browser: the protocol of docs/protocol.md, as the terminal client speaks it.
// In a mesh, one RTCPeerConnection per peer, perfect negotiation (the lower id is polite),
// candidates queued until the remote description, H.264 constrained baseline preferred. In a
// room on the SFU, two connections to the server's SFU instead (sfu.js, served after this).
// Everything other people send is shown with textContent, never as HTML.

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const state = {
  ws: null, me: null, host: null, token: null, peers: new Map(), hands: [], local: null,
  screen: null, mic: true, cam: true, left: false, backoff: 1000, iceServers: [], notice: "", chatEnabled: true,
  // "mesh" or "sfu" (docs/protocol.md, Media modes); `sfu` holds the SFU's connections.
  mode: "mesh", sfu: null, switchId: 0,
};

// What went wrong in this page's own scripts, for anyone debugging it (and for the tests).
const errors = [];
window.addEventListener("error", (e) => errors.push(String(e.message)));
window.addEventListener("unhandledrejection", (e) => errors.push(String(e.reason)));

// The status line; a standing notice (no camera, say) stays after it.
function status(text) {
  const line = state.notice ? text + " · " + state.notice : text;
  $("status").textContent = line; console.log("termmeet: " + line);
}

function send(msg) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(msg));
}

// ?processing=off turns the browser's echo cancellation, noise suppression and gain control
// off, for music or an instrument: noise suppression takes a steady tone for noise.
function audioConstraints(extra = {}) {
  if (params.get("processing") !== "off") return Object.keys(extra).length ? extra : true;
  return { ...extra, echoCancellation: false, noiseSuppression: false, autoGainControl: false };
}

async function getMedia() {
  try {
    // ?size=WxH asks for a smaller (or larger) camera picture than 640x480.
    const [width, height] = (params.get("size") || "640x480").split("x").map(Number);
    state.local = await navigator.mediaDevices.getUserMedia({ video: { width, height }, audio: audioConstraints() });
  } catch (e) {
    try {
      state.local = await navigator.mediaDevices.getUserMedia({ audio: audioConstraints() });
      state.cam = false;
      state.notice = "no camera (" + e.name + (e.name === "NotAllowedError" ? ": allow it in the site settings and reload" : "") + "): joined without video";
      status("joining");
    } catch (e2) {
      state.local = new MediaStream();
      state.cam = false; state.mic = false;
      state.notice = "no camera or microphone (" + e2.name + "): joined to watch and listen";
      status("joining");
    }
  }
}

function connect(room, name, secret) {
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
  const ws = new WebSocket(url);
  state.ws = ws;
  ws.onopen = () => {
    send({ type: "join", room, name, secret: secret || undefined, token: joinToken || undefined, resume: state.token || undefined, client: "termmeet-web/0.2", sfu: true });
  };
  ws.onmessage = (ev) => { let m; try { m = JSON.parse(ev.data); } catch { return; } onMessage(m); };
  ws.onclose = (ev) => {
    if (state.left || ev.code === 1008) { status("disconnected: " + (ev.reason || ev.code)); return; }
    const delay = Math.min(state.backoff, 30000) * (0.8 + 0.4 * Math.random());
    state.backoff = Math.min(state.backoff * 2, 30000);
    status("reconnecting in " + Math.ceil(delay / 1000) + " s");
    setTimeout(() => connect(room, name, secret), delay);
  };
}

function peerName(id) {
  if (state.me && id === state.me.id) return state.me.name;
  const p = state.peers.get(id);
  return p ? p.info.name : id;
}

async function onMessage(m) {
  switch (m.type) {
    case "peers": {
      const resumed = state.me && state.me.id === m.you.id;
      state.me = m.you; state.host = m.host; state.token = m.resume_token; state.backoff = 1000;
      state.hands = m.hands; state.iceServers = m.ice_servers || []; state.chatEnabled = m.chat_enabled !== false;
      status((resumed ? "resumed" : "joined") + " as " + m.you.name);
      $("controls").hidden = false;
      const mode = m.media_mode === "sfu" ? "sfu" : "mesh";
      if (!resumed) {
        for (const p of state.peers.values()) closePeer(p.info.id);
        stopSfu();
        state.mode = mode;
        $("chat").textContent = "";
        for (const c of m.chat_history) addChat(c);
        for (const info of m.peers) { const p = makePeer(info); if (p.pc) await offer(p); }
        if (mode === "sfu") enterSfu();
      } else if (mode !== state.mode) {
        switchMode(mode);
      }
      send({ type: "media-state", mic: state.mic, cam: state.cam });
      renderSide();
      break;
    }
    case "peer-joined": makePeer(m.peer); renderSide(); break;
    case "peer-left": closePeer(m.id); renderSide(); break;
    case "offer": if (isSfu(m.from)) await onSfuOffer(m.sdp); else await onOffer(m.from, m.sdp); break;
    case "answer": {
      if (isSfu(m.from)) { await onSfuAnswer(m.sdp); break; }
      const p = state.peers.get(m.from);
      if (p && p.pc) { try { await p.pc.setRemoteDescription({ type: "answer", sdp: m.sdp }); await flush(p); } catch (e) { console.log("answer: " + e); } }
      break;
    }
    case "candidate": {
      if (isSfu(m.from)) { await onSfuCandidate(m.from, m.candidate); break; }
      const p = state.peers.get(m.from);
      if (!p || !p.pc || !m.candidate) break;
      const c = fromWire(m.candidate);
      if (p.pc.remoteDescription) { try { await p.pc.addIceCandidate(c); } catch (e) { if (!p.ignoreOffer) console.log("candidate: " + e); } }
      else p.pending.push(c);
      break;
    }
    case "media-state": { const p = state.peers.get(m.from); if (p) { p.info.mic = m.mic; p.info.cam = m.cam; updateTile(p); renderSide(); } break; }
    case "screen-share-started": { const p = state.peers.get(m.from); if (p) { p.info.screen = true; p.info.screen_stream_id = m.stream_id; adoptSfuStreams(); placeStreams(p); renderSide(); } break; }
    case "screen-share-stopped": { const p = state.peers.get(m.from); if (p) { p.info.screen = false; hideScreen(p); renderSide(); } break; }
    case "raise-hand": case "lower-hand": state.hands = m.queue; renderSide(); break;
    case "chat": addChat(m); break;
    case "chat-enabled": case "chat-disabled": state.chatEnabled = m.type === "chat-enabled"; renderSide(); addNote("chat " + (m.type === "chat-enabled" ? "enabled" : "disabled") + " by " + peerName(m.from)); break;
    case "host": state.host = m.id; renderSide(); break;
    case "media-mode": if (m.reason) addNote(m.reason); switchMode(m.mode === "sfu" ? "sfu" : "mesh"); break;
    case "term": onRoomTerm(m); break;
    case "error": addNote("server: " + m.code + ": " + m.message); break;
  }
}

function iceConfig() {
  return { iceServers: state.iceServers.map((s) => ({ urls: s.urls, username: s.username, credential: s.credential })) };
}

// A peer: its tile, and in a mesh its connection. `streams` are what its connection brought,
// `sfuStreams` what the SFU's subscription brought of it.
function makePeer(info) {
  const p = { info, pc: null, pending: [], makingOffer: false, ignoreOffer: false, polite: state.me.id < info.id, ready: false, streams: new Map(), sfuStreams: new Map(), tile: null, screenVideo: null, lastFailed: 0 };
  state.peers.set(info.id, p);
  makeTile(p);
  if (state.mode === "mesh") attachPc(p);
  adoptSfuStreams();
  return p;
}

// The peer's own connection (the mesh).
function attachPc(p) {
  const pc = new RTCPeerConnection(iceConfig());
  const info = p.info;
  Object.assign(p, { pc, pending: [], makingOffer: false, ignoreOffer: false, ready: false, lastFailed: 0 });
  // The shared-terminal channel: negotiated out of band on stream 0, as the terminal client
  // makes it, so it exists whoever offers first.
  const dc = pc.createDataChannel("term", { negotiated: true, id: 0 });
  dc.binaryType = "arraybuffer";
  p.term = termStream(p);
  dc.onmessage = (ev) => p.term.feed(ev.data);
  for (const track of state.local.getTracks()) pc.addTrack(track, state.local);
  if (state.screen) for (const t of state.screen.getTracks()) pc.addTrack(t, state.screen);
  if (!state.local.getVideoTracks().length) pc.addTransceiver("video", { direction: "recvonly" });
  if (!state.local.getAudioTracks().length) pc.addTransceiver("audio", { direction: "recvonly" });
  preferH264(pc);
  pc.onicecandidate = ({ candidate }) => { if (candidate) send({ type: "candidate", to: info.id, candidate: wireCandidate(candidate) }); };
  pc.onnegotiationneeded = async () => { if (p.ready) await offer(p); };
  pc.ontrack = (ev) => {
    for (const s of ev.streams) {
      p.streams.set(s.id, s);
      s.onremovetrack = () => { if (!s.getTracks().length) { p.streams.delete(s.id); if (isScreen(p, s.id)) hideScreen(p); } };
    }
    placeStreams(p);
  };
  pc.onconnectionstatechange = () => {
    if (pc.connectionState === "failed" && Date.now() - p.lastFailed > 5000) { p.lastFailed = Date.now(); pc.restartIce(); }
    if (pc.connectionState === "connected") shortCode(pc).then((code) => { if (p.pc === pc) { p.sas = code; renderSide(); } });
    renderSide();
  };
  return pc;
}

// A candidate as the protocol writes it, and back.
function wireCandidate(c) {
  return { candidate: c.candidate, sdp_mid: c.sdpMid, sdp_mline_index: c.sdpMLineIndex, username_fragment: c.usernameFragment };
}

function fromWire(c) {
  return { candidate: c.candidate, sdpMid: c.sdp_mid, sdpMLineIndex: c.sdp_mline_index, usernameFragment: c.username_fragment };
}

// Drops the peer's own connection (the room went to the SFU), and what came on it.
function dropPc(p) {
  if (!p.pc) return;
  if (p.term) {
    p.term.close(); p.term = null;
    // Through the SFU the server's stream of their share goes on showing it.
    if (!(p.roomTerm && p.roomTerm.stream)) p.terminal = null;
    renderTerminal();
  }
  p.pc.close(); p.pc = null; p.sas = null; p.streams.clear();
  placeStreams(p);
}

// The short code both ends show: six digits from the two DTLS fingerprints, sorted, so
// people can read it out and check nobody sits between them (the same as the terminal's
// call/sas.rs).
function fingerprintOf(sdp) {
  const line = (sdp || "").split(/\r?\n/).find((l) => l.startsWith("a=fingerprint:"));
  if (!line) return null;
  const [hash, hex] = line.slice("a=fingerprint:".length).trim().split(" ");
  return hash.toLowerCase() + " " + (hex || "").trim().toUpperCase();
}

async function shortCode(pc) {
  const a = fingerprintOf(pc.localDescription && pc.localDescription.sdp);
  const b = fingerprintOf(pc.remoteDescription && pc.remoteDescription.sdp);
  if (!a || !b || !crypto.subtle) return null;
  const [x, y] = a <= b ? [a, b] : [b, a];
  const digest = new DataView(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(x + "\n" + y)));
  const n = digest.getUint32(0) % 1000000;
  const pad = (v) => String(v).padStart(3, "0");
  return pad(Math.floor(n / 1000)) + " " + pad(n % 1000);
}

function preferH264(pc) {
  const caps = RTCRtpReceiver.getCapabilities && RTCRtpReceiver.getCapabilities("video");
  if (!caps) return;
  const h264 = caps.codecs.filter((c) => c.mimeType === "video/H264" && /profile-level-id=42e01f/.test(c.sdpFmtpLine || "") && /packetization-mode=1/.test(c.sdpFmtpLine || ""));
  const rest = caps.codecs.filter((c) => !h264.includes(c));
  for (const t of pc.getTransceivers()) {
    if (t.receiver.track && t.receiver.track.kind === "video" && t.setCodecPreferences) {
      try { t.setCodecPreferences(h264.concat(rest)); } catch (e) { console.log("codec preferences: " + e); }
    }
  }
}

async function offer(p) {
  try {
    p.makingOffer = true;
    preferH264(p.pc);
    await p.pc.setLocalDescription();
    send({ type: "offer", to: p.info.id, sdp: p.pc.localDescription.sdp });
  } catch (e) { console.log("offer: " + e); } finally { p.makingOffer = false; p.ready = true; }
}

async function onOffer(from, sdp) {
  const p = state.peers.get(from);
  if (!p) return;
  // A peer offers its own connection: the room is going back to a mesh. An offer made
  // before its sender heard the room went to the SFU is left unanswered: it would bring a
  // second copy of what the SFU brings, and the sender closes it with its mesh.
  if (!p.pc) { if (state.mode === "sfu") return; attachPc(p); }
  const collision = p.makingOffer || p.pc.signalingState !== "stable";
  p.ignoreOffer = !p.polite && collision;
  if (p.ignoreOffer) return;
  try {
    await p.pc.setRemoteDescription({ type: "offer", sdp });
    await flush(p);
    await p.pc.setLocalDescription();
    send({ type: "answer", to: from, sdp: p.pc.localDescription.sdp });
    p.ready = true;
  } catch (e) { addNote("could not use the offer from " + p.info.name + ": " + e); }
}

async function flush(p) {
  for (const c of p.pending.splice(0)) { try { await p.pc.addIceCandidate(c); } catch (e) { console.log("queued candidate: " + e); } }
}

function closePeer(id) {
  const p = state.peers.get(id);
  if (!p) return;
  if (p.term) p.term.close();
  if (p.roomTerm && p.roomTerm.stream) p.roomTerm.stream.close();
  if (p.pc) p.pc.close();
  if (p.tile) p.tile.remove();
  hideScreen(p);
  state.peers.delete(id);
}

function makeTile(p) {
  const tile = document.createElement("div");
  tile.className = "tile";
  const video = document.createElement("video");
  video.autoplay = true; video.playsInline = true;
  const label = document.createElement("span"); label.className = "label";
  const big = document.createElement("div"); big.className = "name-large";
  tile.append(video, label, big);
  $("tiles").append(tile);
  p.tile = tile; p.video = video; p.label = label; p.big = big;
  updateTile(p);
}

function updateTile(p) {
  if (!p.tile) return;
  const marks = [];
  if (!p.info.mic) marks.push("mic off");
  if (!p.info.cam) marks.push("cam off");
  const k = state.hands.indexOf(p.info.id);
  if (k >= 0) marks.push("hand #" + (k + 1));
  p.label.textContent = p.info.name + (marks.length ? " · " + marks.join(" · ") : "");
  p.big.textContent = p.info.name;
  p.tile.classList.toggle("cam-off", !p.info.cam);
}

function isScreen(p, streamId) { return p.info.screen_stream_id === streamId || streamId.startsWith("screen"); }

function hideScreen(p) {
  if (!p.screenVideo) return;
  p.screenVideo = null;
  $("screen").classList.remove("on"); $("screen").textContent = "";
}

// What to show of a peer: what the current mode brings, else what the other still does
// (while a switch is under way).
function streamsOf(p) {
  const [now, before] = state.mode === "sfu" ? [p.sfuStreams, p.streams] : [p.streams, p.sfuStreams];
  return now.size ? now : before;
}

function placeStreams(p) {
  const streams = streamsOf(p);
  if (p.video && p.video.srcObject && ![...streams.values()].includes(p.video.srcObject)) p.video.srcObject = null;
  if (p.screenVideo && ![...streams.values()].includes(p.screenVideo.srcObject)) hideScreen(p);
  for (const [id, stream] of streams) {
    if (isScreen(p, id)) {
      if (!stream.getVideoTracks().length || (p.info.screen === false && !p.screenVideo)) continue;
      if (!p.screenVideo) {
        const v = document.createElement("video"); v.autoplay = true; v.playsInline = true; v.muted = true;
        $("screen").textContent = ""; $("screen").append(v); $("screen").classList.add("on");
        p.screenVideo = v;
      }
      p.screenVideo.srcObject = stream;
    } else if (p.video.srcObject !== stream) {
      p.video.srcObject = stream;
    }
  }
}

function addChat(c) {
  const line = document.createElement("div");
  const time = new Date(c.ts).toTimeString().slice(0, 5);
  line.textContent = time + " " + c.name + ": " + c.text;
  $("chat").append(line);
  $("chat").scrollTop = $("chat").scrollHeight;
}

function addNote(text) { const d = document.createElement("div"); d.style.color = "#cc4"; d.textContent = text; $("chat").append(d); }

function quality(loss, rtt, connected) {
  if (!connected) return "disconnected";
  if (loss < 1 && rtt < 100) return "excellent";
  if (loss < 3 && rtt < 300) return "good";
  return "poor";
}

function renderSide() {
  const peers = $("peers"); peers.textContent = "";
  for (const p of state.peers.values()) {
    const d = document.createElement("div");
    d.textContent = p.info.name + (p.info.id === state.host ? " (host)" : "") + " ";
    const q = document.createElement("span"); q.className = "q-" + (p.quality || "disconnected"); q.textContent = p.quality || connectionOf(p);
    d.append(q);
    if (!p.pc && state.sfu) { const v = document.createElement("span"); v.className = "via"; v.textContent = " via SFU"; d.append(v); }
    if (p.sas) { const c = document.createElement("span"); c.className = "sas"; c.textContent = " code " + p.sas; d.append(c); }
    if (state.me && state.me.id === state.host && state.hands.includes(p.info.id)) {
      const b = document.createElement("button"); b.textContent = "lower hand"; b.className = "lower-hand"; b.dataset.peer = p.info.name; b.onclick = () => send({ type: "lower-hand", peer: p.info.id }); d.append(b);
    }
    peers.append(d);
    updateTile(p);
  }
  const hands = $("hands"); hands.textContent = "";
  for (const id of state.hands) { const li = document.createElement("li"); li.textContent = peerName(id) + (state.me && id === state.me.id ? " (you)" : ""); hands.append(li); }
  $("hand").textContent = state.me && state.hands.includes(state.me.id) ? "lower hand" : "raise hand";
  // Host controls show for the host only.
  const host = !!state.me && state.me.id === state.host;
  $("chatToggle").hidden = !host;
  $("chatToggle").textContent = state.chatEnabled ? "turn chat off" : "turn chat on";
  // While chat is off only the host may still write.
  $("chatInput").disabled = !state.chatEnabled && !host;
  $("chatInput").placeholder = state.chatEnabled ? "message" : host ? "chat is off for the others" : "chat is off (the host turned it off)";
}

// Stats every second: quality per peer from getStats, with the same thresholds as the
// terminal client, and what has arrived from each peer's camera, screen and microphone.
function kindOf(p, trackId) {
  for (const [id, stream] of streamsOf(p)) if (stream.getTracks().some((t) => t.id === trackId)) return isScreen(p, id) ? "screen" : "camera";
  return "camera";
}

setInterval(async () => {
  await sfuStats();
  for (const p of state.peers.values()) {
    if (!p.pc || (state.mode === "sfu" && state.sfu)) continue;
    const pc = p.pc;
    let stats;
    try { stats = await pc.getStats(); } catch { continue; }
    let camera = 0, screen = 0, audio = 0, lost = 0, recv = 0, rtt = 0;
    stats.forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "video") {
        if (kindOf(p, s.trackIdentifier) === "screen") screen = Math.max(screen, s.framesDecoded || 0);
        else camera = Math.max(camera, s.framesDecoded || 0);
      }
      if (s.type === "inbound-rtp" && s.kind === "audio") audio = Math.max(audio, s.totalSamplesReceived || 0);
      if (s.type === "inbound-rtp") { lost += s.packetsLost || 0; recv += s.packetsReceived || 0; }
      if (s.type === "candidate-pair" && s.nominated && s.currentRoundTripTime !== undefined) rtt = s.currentRoundTripTime * 1000;
    });
    p.cameraFrames = camera; p.screenFrames = screen; p.audioSamples = audio;
    p.quality = quality(recv ? (100 * lost) / (lost + recv) : 0, rtt, pc.connectionState === "connected");
  }
  renderSide();
}, 1000);

// Shared terminals (ARCHITECTURE.md, "the term channel"): each message is a version byte and
// a piece of one DEFLATE stream; inflated, frames of a u32 length and a kind. The screen is
// drawn as a grid of text nodes, one span a run of cells in one style.
const TERM_VERSION = 1;
const utf8 = new TextDecoder();
const palette = (i) => {
  const base = ["#000000", "#cd0000", "#00cd00", "#cdcd00", "#0000ee", "#cd00cd", "#00cdcd", "#e5e5e5",
    "#7f7f7f", "#ff0000", "#00ff00", "#ffff00", "#5c5cff", "#ff00ff", "#00ffff", "#ffffff"];
  if (i < 16) return base[i];
  if (i < 232) { const v = [0, 95, 135, 175, 215, 255]; const n = i - 16; return `rgb(${v[Math.floor(n / 36)]},${v[Math.floor(n / 6) % 6]},${v[n % 6]})`; }
  const g = 8 + 10 * (i - 232); return `rgb(${g},${g},${g})`;
};
const joins = /[\p{M}\u200d\ufe00-\ufe0f]/u;
const control = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/gu;

function termStream(p) {
  const inflate = new DecompressionStream("deflate-raw");
  const writer = inflate.writable.getWriter();
  const reader = inflate.readable.getReader();
  let pending = new Uint8Array(0);
  let broken = null, closed = false;
  const fail = (why) => {
    if (closed) return; if (!broken) { broken = why; addNote(p.info.name + "'s shared terminal cannot be shown: " + why); } p.terminal = null; renderTerminal(); };
  (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        const joined = new Uint8Array(pending.length + value.length);
        joined.set(pending); joined.set(value, pending.length);
        pending = joined;
        let at = 0;
        while (pending.length - at >= 4) {
          const len = new DataView(pending.buffer, pending.byteOffset + at, 4).getUint32(0, true);
          if (len > (4 << 20)) throw new Error("a frame over 4 MiB");
          if (pending.length - at - 4 < len) break;
          termFrame(p, pending.subarray(at + 4, at + 4 + len));
          at += 4 + len;
        }
        pending = pending.slice(at);
        renderTerminal();
      }
    } catch (e) { fail(String((e && e.message) || e)); }
  })();
  return {
    feed(data) {
      const b = new Uint8Array(data);
      if (broken) return;
      if (b[0] !== TERM_VERSION) { fail("format version " + b[0] + " (this page speaks " + TERM_VERSION + ")"); return; }
      writer.write(b.subarray(1)).catch((e) => fail(String(e)));
    },
    close() { closed = true; writer.abort().catch(() => {}); },
  };
}

// One frame from the stream into p.terminal.
function termFrame(p, b) {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let o = 0;
  const need = (n) => { if (o + n > b.length) throw new Error("a frame cut short"); };
  const u8 = () => { need(1); return b[o++]; };
  const u16 = () => { need(2); const v = dv.getUint16(o, true); o += 2; return v; };
  const text = (n) => { need(n); const s = utf8.decode(b.subarray(o, o + n)); o += n; return s; };
  const colour = () => { const k = u8(); if (k === 0) return null; if (k === 1) return palette(u8()); if (k === 2) return `rgb(${u8()},${u8()},${u8()})`; throw new Error("an unknown colour kind"); };
  const readState = (t) => {
    t.cursor = [Math.min(u16(), t.rows - 1), Math.min(u16(), t.cols - 1)];
    t.cursorVisible = (u8() & 1) !== 0;
    t.title = text(u16()).replace(control, "");
    t.holder = text(u8()) || null;
  };
  const readRow = (t, r) => {
    const runs = u16();
    const cells = [];
    for (let i = 0; i < runs; i++) {
      const fg = colour(), bg = colour(), attrs = u8() & 63;
      let cur = null;
      const push = () => { if (cur === null) return; cells.push({ t: cur.replace(control, "\ufffd"), fg, bg, a: attrs }); if (attrs & 32) cells.push({ t: "", fg, bg, a: 64 }); cur = null; };
      for (const ch of text(u16())) {
        if (cur !== null && joins.test(ch)) cur += ch; else { push(); cur = ch; }
      }
      push();
    }
    if (cells.length !== t.cols) throw new Error("a row of the wrong length");
    t.grid[r] = cells;
  };
  const kind = u8();
  if (kind === 1) {
    const cols = u16(), rows = u16();
    if (!cols || !rows || cols > 400 || rows > 200) throw new Error("a screen size out of bounds");
    const t = { cols, rows, grid: [], cursor: [0, 0], cursorVisible: true, title: "", holder: null };
    readState(t);
    for (let r = 0; r < rows; r++) readRow(t, r);
    p.terminal = t;
  } else if (kind === 2) {
    const t = p.terminal;
    if (!t) throw new Error("rows before any screen");
    readState(t);
    const n = u16();
    for (let i = 0; i < n; i++) { const r = u16(); if (r >= t.rows) throw new Error("a row outside the screen"); readRow(t, r); }
  } else if (kind === 3) {
    p.terminal = null;
  } else if (kind === 4) {
    // Keys are for the sharer; the page shares no terminal.
  } else throw new Error("an unknown frame kind");
  p.termUpdates = (p.termUpdates || 0) + 1;
}

// The first peer's shared terminal, as a grid of text nodes (never HTML).
function renderTerminal() {
  const box = $("terminal");
  const p = [...state.peers.values()].find((q) => q.terminal);
  if (!p) { box.classList.remove("on"); box.textContent = ""; return; }
  const t = p.terminal;
  const holder = t.holder ? (state.me && t.holder === state.me.id ? "you" : peerName(t.holder)) : p.info.name;
  const head = document.createElement("div");
  head.className = "term-head";
  head.textContent = p.info.name + "'s terminal · keyboard: " + holder + (t.title ? " · " + t.title : "") + " · " + t.cols + "x" + t.rows;
  const grid = document.createElement("div");
  grid.className = "term-grid";
  for (let r = 0; r < t.rows; r++) {
    const line = document.createElement("div");
    let span = null, key = null;
    for (let c = 0; c < t.cols; c++) {
      const cell = t.grid[r][c];
      if (cell.a & 64) continue;
      const cursor = t.cursorVisible && t.cursor[0] === r && t.cursor[1] === c;
      const k = [cell.fg, cell.bg, cell.a, cursor].join("|");
      if (k !== key) {
        span = document.createElement("span");
        let fg = cell.fg, bg = cell.bg;
        if ((cell.a & 16) !== 0 !== cursor) { [fg, bg] = [bg || "#000", fg || "#eee"]; }
        if (fg) span.style.color = fg;
        if (bg) span.style.background = bg;
        if (cell.a & 1) span.style.fontWeight = "bold";
        if (cell.a & 2) span.style.opacity = "0.6";
        if (cell.a & 4) span.style.fontStyle = "italic";
        if (cell.a & 8) span.style.textDecoration = "underline";
        line.append(span);
        key = k;
      }
      span.textContent += cell.t;
    }
    grid.append(line);
  }
  box.replaceChildren(head, grid);
  box.classList.add("on");
}

// A read-only view of the meeting for the console (and the browser tests).
window.termmeet = {
  terminal: () => {
    const p = [...state.peers.values()].find((q) => q.terminal);
    if (!p) return null;
    const t = p.terminal;
    return { from: p.info.name, cols: t.cols, rows: t.rows, holder: t.holder, title: t.title, updates: p.termUpdates || 0,
      lines: t.grid.map((row) => row.map((c) => c.t).join("")),
      shown: [...document.querySelectorAll("#terminal .term-grid > div")].map((d) => d.textContent) };
  },
  errors,
  stats: () => [...state.peers.values()].map((p) => ({
    name: p.info.name, id: p.info.id, connection: connectionOf(p), signaling: p.pc ? p.pc.signalingState : sfuSignaling(), quality: p.quality || null,
    cameraFrames: p.cameraFrames || 0, screenFrames: p.screenFrames || 0, audioSamples: p.audioSamples || 0,
    mic: p.info.mic, cam: p.info.cam, screen: !!p.info.screen, sas: p.sas || null,
  })),
  me: () => state.me,
  micLabel: () => { const t = state.local && state.local.getAudioTracks()[0]; return t ? t.label : null; },
  sending: (kind) => allPcs().flatMap((pc) => pc.getSenders().filter((s) => s.track && s.track.kind === kind).map((s) => s.track.label)),
  mode: () => state.mode,
  sfu: () => state.sfu && { publish: state.sfu.pub ? state.sfu.pub.connectionState : null, subscribe: state.sfu.sub ? state.sfu.sub.connectionState : null,
    offers: state.sfu.offers || 0, framesSent: state.sfu.framesSent || 0 },
  hands: () => state.hands.map(peerName),
};

// Device choice: once permission is given the devices have names; choosing one swaps the
// track on every connection (replaceTrack: no renegotiation).
async function listDevices() {
  let devices = [];
  try { devices = await navigator.mediaDevices.enumerateDevices(); } catch { return; }
  for (const [kind, select] of [["videoinput", $("cameraSelect")], ["audioinput", $("micSelect")]]) {
    const track = kind === "videoinput" ? state.local.getVideoTracks()[0] : state.local.getAudioTracks()[0];
    const current = track && track.getSettings ? track.getSettings().deviceId : "";
    select.textContent = "";
    for (const d of devices.filter((d) => d.kind === kind)) {
      const o = document.createElement("option");
      o.value = d.deviceId; o.textContent = d.label || kind + " " + (select.length + 1);
      o.selected = d.deviceId === current;
      select.append(o);
    }
    select.disabled = !track || select.length < 2;
  }
}

async function useDevice(kind, deviceId) {
  const [width, height] = (params.get("size") || "640x480").split("x").map(Number);
  const constraints = kind === "video" ? { video: { deviceId: { exact: deviceId }, width, height } } : { audio: audioConstraints({ deviceId: { exact: deviceId } }) };
  let stream;
  try { stream = await navigator.mediaDevices.getUserMedia(constraints); } catch (e) { addNote("could not switch " + kind + ": " + e.name); return; }
  const track = kind === "video" ? stream.getVideoTracks()[0] : stream.getAudioTracks()[0];
  const old = kind === "video" ? state.local.getVideoTracks()[0] : state.local.getAudioTracks()[0];
  track.enabled = kind === "video" ? state.cam : state.mic;
  for (const pc of allPcs()) {
    for (const s of pc.getSenders()) if (s.track === old) await s.replaceTrack(track);
  }
  if (old) { state.local.removeTrack(old); old.stop(); }
  state.local.addTrack(track);
  await listDevices();
}

$("cameraSelect").onchange = (e) => useDevice("video", e.target.value);
$("micSelect").onchange = (e) => useDevice("audio", e.target.value);

$("join").onsubmit = async (e) => {
  e.preventDefault();
  await getMedia();
  $("mic").classList.toggle("off", !state.mic); $("mic").disabled = !state.local.getAudioTracks().length;
  $("cam").classList.toggle("off", !state.cam); $("cam").disabled = !state.local.getVideoTracks().length;
  await listDevices();
  connect($("room").value, $("name").value, $("secret").value);
};
$("chatForm").onsubmit = (e) => { e.preventDefault(); const t = $("chatInput").value.trim(); if (t) send({ type: "chat", text: t }); $("chatInput").value = ""; };
$("mic").onclick = () => { state.mic = !state.mic; for (const t of state.local.getAudioTracks()) t.enabled = state.mic; $("mic").classList.toggle("off", !state.mic); send({ type: "media-state", mic: state.mic, cam: state.cam }); };
$("cam").onclick = () => { state.cam = !state.cam; for (const t of state.local.getVideoTracks()) t.enabled = state.cam; $("cam").classList.toggle("off", !state.cam); send({ type: "media-state", mic: state.mic, cam: state.cam }); };
$("hand").onclick = () => send({ type: state.me && state.hands.includes(state.me.id) ? "lower-hand" : "raise-hand" });
$("chatToggle").onclick = () => send({ type: state.chatEnabled ? "chat-disabled" : "chat-enabled" });
$("leave").onclick = () => { state.left = true; send({ type: "leave" }); state.ws.close(1000); for (const id of [...state.peers.keys()]) closePeer(id); stopSfu(); status("left"); };
$("share").onclick = async () => {
  if (state.screen) {
    for (const pc of allPcs()) for (const s of pc.getSenders()) if (s.track && state.screen.getTracks().includes(s.track)) pc.removeTrack(s);
    for (const t of state.screen.getTracks()) t.stop();
    state.screen = null; send({ type: "screen-share-stopped" }); return;
  }
  try {
    state.screen = await navigator.mediaDevices.getDisplayMedia({ video: true });
    send({ type: "screen-share-started", stream_id: state.screen.id });
    for (const pc of allPcs()) for (const t of state.screen.getTracks()) pc.addTrack(t, state.screen);
    if (state.sfu && !state.sfu.pub) makePublisher();
  } catch (e) { addNote("screen share: " + e.name); }
};
if (params.get("room")) $("room").value = params.get("room");
if (params.get("name")) $("name").value = params.get("name");
if (params.get("secret")) $("secret").value = params.get("secret");
// A join link carries a token: the server uses the name it binds, so show that one.
const joinToken = params.get("token");
if (joinToken) {
  try {
    const body = JSON.parse(atob(joinToken.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    if (body.name) { $("name").value = body.name; $("name").readOnly = true; }
    if (body.room) $("room").value = body.room;
  } catch { addNote("the link's token cannot be read; the server will say why"); }
}
if (params.has("autojoin")) $("join").requestSubmit();
