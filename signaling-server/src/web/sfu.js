// A room on the SFU (docs/protocol.md, "Media modes: mesh and SFU"), as the terminal client
// does it: one connection to `sfu-publish` carries what the page sends, once; one from
// `sfu-subscribe` brings everyone else. Tracks on it belong to a peer by stream id: `cam-ID`
// is ID's camera and microphone, a stream a peer announced with `screen-share-started` its
// screen. Switches are make before break: the new mode's connections first, the old ones
// closed 2 s after the new ones are up, 15 s after the switch at the latest.
// (Served after app.js, in the same script.)

const SFU_PUBLISH = "sfu-publish";
const SFU_SUBSCRIBE = "sfu-subscribe";
const SWITCH_LIMIT_MS = 15000;

function isSfu(id) { return id === SFU_PUBLISH || id === SFU_SUBSCRIBE; }

// Every connection that sends the page's media: each peer's in a mesh, the SFU's publisher.
function allPcs() {
  const pcs = [...state.peers.values()].map((p) => p.pc).filter(Boolean);
  if (state.sfu && state.sfu.pub) pcs.push(state.sfu.pub);
  return pcs;
}

function connectionOf(p) {
  if (p.pc && !(state.mode === "sfu" && state.sfu)) return p.pc.connectionState;
  const sub = state.sfu && state.sfu.sub;
  return sub ? sub.connectionState : p.pc ? p.pc.connectionState : "new";
}

function sfuSignaling() { const sub = state.sfu && state.sfu.sub; return sub ? sub.signalingState : "stable"; }

function switchMode(mode) {
  if (mode === state.mode) return;
  state.mode = mode;
  if (mode === "sfu") enterSfu(); else enterMesh();
  renderSide();
}

// Into the SFU: publish, wait for the SFU's offer, and close the mesh once media flows.
function enterSfu() {
  startSfu();
  addNote("this room's media now goes through the server's SFU: it is decrypted there, so it is not end to end, and there is no short code to compare");
  const id = ++state.switchId;
  closeWhenUp(id, () => state.sfu && state.sfu.sub && state.sfu.sub.connectionState === "connected" &&
    (!state.sfu.pub || state.sfu.pub.connectionState === "connected"), () => {
    for (const p of state.peers.values()) dropPc(p);
  });
}

// Back to the mesh: a connection to every peer, and the SFU's closed once they are up.
function enterMesh() {
  addNote("this room's media goes peer to peer again (end to end)");
  for (const p of state.peers.values()) if (!p.pc) { attachPc(p); offer(p); }
  const id = ++state.switchId;
  closeWhenUp(id, () => [...state.peers.values()].every((p) => p.pc && p.pc.connectionState === "connected"), stopSfu);
}

// Looks once a second whether `up()`; 2 s after it first is (or at the switch limit), runs
// `close`, unless another switch came meanwhile.
function closeWhenUp(id, up, close) {
  const started = Date.now();
  let upSince = 0;
  const timer = setInterval(() => {
    if (state.switchId !== id) { clearInterval(timer); return; }
    if (!upSince && up()) upSince = Date.now();
    if ((upSince && Date.now() - upSince >= 2000) || Date.now() - started >= SWITCH_LIMIT_MS) {
      clearInterval(timer);
      close();
      renderSide();
    }
  }, 1000);
}

function startSfu() {
  if (state.sfu) return;
  state.sfu = { pub: null, sub: null, pending: { [SFU_PUBLISH]: [], [SFU_SUBSCRIBE]: [] }, orphans: new Map(), lastFailed: 0 };
  // With nothing to send there is nothing to publish; the subscription comes all the same.
  if (state.local.getTracks().length || state.screen) makePublisher();
}

function stopSfu() {
  const sfu = state.sfu;
  if (!sfu) return;
  state.sfu = null;
  if (sfu.pub) sfu.pub.close();
  if (sfu.sub) sfu.sub.close();
  for (const p of state.peers.values()) { p.sfuStreams.clear(); p.quality = null; placeStreams(p); }
}

function sfuPc(to) {
  const pc = new RTCPeerConnection(iceConfig());
  pc.onicecandidate = ({ candidate }) => send({ type: "candidate", to, candidate: candidate ? wireCandidate(candidate) : null });
  pc.onconnectionstatechange = () => {
    const sfu = state.sfu;
    if (pc.connectionState === "failed" && sfu && Date.now() - sfu.lastFailed > 5000) {
      sfu.lastFailed = Date.now();
      if (to === SFU_PUBLISH) pc.restartIce(); else restartSubscription(pc);
    }
    renderSide();
  };
  return pc;
}

function makePublisher() {
  const sfu = state.sfu;
  const pc = sfuPc(SFU_PUBLISH);
  sfu.pub = pc;
  for (const t of state.local.getTracks()) pc.addTrack(t, state.local);
  if (state.screen) for (const t of state.screen.getTracks()) pc.addTrack(t, state.screen);
  for (const t of pc.getTransceivers()) t.direction = "sendonly";
  preferH264(pc);
  pc.onnegotiationneeded = () => publish(pc);
}

// The page's camera stream is named `cam-ID` in what the SFU is told (the browser picks its
// own stream ids), so that subscribers know whose it is. The page's local description keeps
// the browser's id: a stream id only names what the far end receives.
async function publish(pc) {
  const sfu = state.sfu;
  if (!sfu || sfu.pub !== pc) return;
  try {
    preferH264(pc);
    await pc.setLocalDescription();
    sfu.offers = (sfu.offers || 0) + 1;
    const sdp = pc.localDescription.sdp.split("msid:" + state.local.id + " ").join("msid:cam-" + state.me.id + " ");
    send({ type: "offer", to: SFU_PUBLISH, sdp });
  } catch (e) { console.log("publish: " + e); }
}

async function onSfuAnswer(sdp) {
  const pc = state.sfu && state.sfu.pub;
  if (!pc || pc.signalingState !== "have-local-offer") return;
  try {
    await pc.setRemoteDescription({ type: "answer", sdp });
    await flushSfu(SFU_PUBLISH, pc);
  } catch (e) { addNote("the SFU's answer could not be used: " + e); }
}

// The SFU offers what everyone else publishes; the page answers, receive-only.
async function onSfuOffer(sdp) {
  // After the move back to the mesh the SFU's side lingers a while (the handover) and may
  // still offer: that is no reason to publish again.
  if (!state.sfu) { if (state.mode !== "sfu") return; startSfu(); }
  const sfu = state.sfu;
  if (!sfu.sub) {
    sfu.sub = sfuPc(SFU_SUBSCRIBE);
    sfu.sub.ontrack = onSfuTrack;
  }
  const pc = sfu.sub;
  try {
    await pc.setRemoteDescription({ type: "offer", sdp });
    await flushSfu(SFU_SUBSCRIBE, pc);
    preferH264(pc);
    await pc.setLocalDescription();
    send({ type: "answer", to: SFU_SUBSCRIBE, sdp: pc.localDescription.sdp });
  } catch (e) { addNote("the SFU's offer could not be used: " + e); }
}

// The SFU is the offerer here: an offer to `sfu-subscribe` asks it to restart ICE and offer
// again (its SDP is not used, so the page's own description stays as it is).
async function restartSubscription(pc) {
  try {
    const o = await pc.createOffer({ iceRestart: true });
    send({ type: "offer", to: SFU_SUBSCRIBE, sdp: o.sdp });
  } catch (e) { console.log("restart: " + e); }
}

async function onSfuCandidate(from, candidate) {
  const sfu = state.sfu;
  if (!sfu || !candidate) return;
  const pc = from === SFU_PUBLISH ? sfu.pub : sfu.sub;
  const c = fromWire(candidate);
  if (pc && pc.remoteDescription) { try { await pc.addIceCandidate(c); } catch (e) { console.log("SFU candidate: " + e); } }
  else sfu.pending[from].push(c);
}

async function flushSfu(from, pc) {
  for (const c of state.sfu.pending[from].splice(0)) { try { await pc.addIceCandidate(c); } catch (e) { console.log("queued SFU candidate: " + e); } }
}

function ownerOf(streamId) {
  for (const p of state.peers.values()) if ("cam-" + p.info.id === streamId || p.info.screen_stream_id === streamId) return p;
  return null;
}

function onSfuTrack(ev) {
  for (const s of ev.streams) {
    if (state.sfu) state.sfu.orphans.set(s.id, s);
    s.onremovetrack = () => {
      if (s.getTracks().length) return;
      if (state.sfu) state.sfu.orphans.delete(s.id);
      for (const p of state.peers.values()) if (p.sfuStreams.delete(s.id)) placeStreams(p);
    };
  }
  adoptSfuStreams();
}

// Gives each stream of the subscription to its peer, once the peer (or its screen's stream
// id) is known.
function adoptSfuStreams() {
  const sfu = state.sfu;
  if (!sfu) return;
  for (const [id, s] of sfu.orphans) {
    const p = ownerOf(id);
    if (!p) continue;
    sfu.orphans.delete(id);
    p.sfuStreams.set(id, s);
    placeStreams(p);
  }
}

// The subscription's figures per peer, by the stream each inbound track belongs to.
async function sfuStats() {
  const pub = state.sfu && state.sfu.pub;
  if (pub) {
    try {
      (await pub.getStats()).forEach((s) => { if (s.type === "outbound-rtp" && s.kind === "video") state.sfu.framesSent = s.framesEncoded || 0; });
    } catch { /* closed meanwhile */ }
  }
  const sub = state.sfu && state.sfu.sub;
  if (!sub || state.mode !== "sfu") return;
  let stats;
  try { stats = await sub.getStats(); } catch { return; }
  const owner = new Map();
  for (const p of state.peers.values()) for (const s of p.sfuStreams.values()) for (const t of s.getTracks()) owner.set(t.id, p);
  const figures = new Map();
  let rtt = 0;
  stats.forEach((s) => {
    if (s.type === "candidate-pair" && s.nominated && s.currentRoundTripTime !== undefined) rtt = s.currentRoundTripTime * 1000;
    if (s.type !== "inbound-rtp") return;
    const p = owner.get(s.trackIdentifier);
    if (!p) return;
    const f = figures.get(p) || { camera: 0, screen: 0, audio: 0, lost: 0, recv: 0 };
    if (s.kind === "video") {
      if (kindOf(p, s.trackIdentifier) === "screen") f.screen = Math.max(f.screen, s.framesDecoded || 0);
      else f.camera = Math.max(f.camera, s.framesDecoded || 0);
    }
    if (s.kind === "audio") f.audio = Math.max(f.audio, s.totalSamplesReceived || 0);
    f.lost += s.packetsLost || 0; f.recv += s.packetsReceived || 0;
    figures.set(p, f);
  });
  for (const [p, f] of figures) {
    p.cameraFrames = f.camera; p.screenFrames = f.screen; p.audioSamples = f.audio;
    p.quality = quality(f.recv ? (100 * f.lost) / (f.lost + f.recv) : 0, rtt, sub.connectionState === "connected");
  }
}

// A shared terminal through the server, for rooms on the SFU (protocol 1.3), which relays
// no data channel of ours: the sharer's stream in the order of `seq`, a new stream at 0. A
// stream we came into mid-way (we joined late, or missed some while away) is asked afresh.
function onRoomTerm(m) {
  const p = state.peers.get(m.from);
  if (!p || typeof m.data !== "string" || typeof m.seq !== "number") return;
  const r = p.roomTerm || (p.roomTerm = { stream: null, next: null, asked: 0 });
  if (m.seq === 0) {
    if (r.stream) r.stream.close();
    r.stream = termStream(p); r.next = 1;
  } else if (m.seq === r.next) {
    r.next += 1;
  } else {
    r.next = null;
    if (Date.now() - r.asked > 2000) { r.asked = Date.now(); send({ type: "term", to: m.from, sync: true }); }
    return;
  }
  let bytes;
  try { bytes = Uint8Array.from(atob(m.data), (c) => c.charCodeAt(0)); } catch (e) { r.next = null; return; }
  r.stream.feed(bytes);
}
