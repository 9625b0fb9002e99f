// Bay console: the few things a server-rendered page cannot do alone.
"use strict";

// Forms that lose something ask first (data-confirm); without JavaScript they post as is.
document.addEventListener("submit", (event) => {
  const question = event.target.getAttribute("data-confirm");
  if (question && !window.confirm(question)) event.preventDefault();
});

// The terminal: xterm.js on the terminal WebSocket. The browser's session cookie
// authenticates the socket (same origin), so no token is put in the URL.
function openTerminal(element) {
  const state = document.getElementById("terminal-state");
  const term = new window.Terminal({ cursorBlink: true, convertEol: false, fontSize: 14 });
  const fit = new window.FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(element);
  fit.fit();
  const sandbox = encodeURIComponent(element.dataset.sandbox);
  const process = element.dataset.process;
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const path = process
    ? `/v1/sandboxes/${sandbox}/processes/${encodeURIComponent(process)}/terminal`
    : `/v1/sandboxes/${sandbox}/terminal?rows=${term.rows}&cols=${term.cols}`;
  const socket = new WebSocket(`${scheme}//${location.host}${path}`);
  const resize = () => {
    fit.fit();
    if (socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ type: "resize", rows: term.rows, cols: term.cols }));
    }
  };
  socket.addEventListener("open", () => { state.textContent = "connected"; resize(); term.focus(); });
  socket.addEventListener("message", (event) => term.write(event.data));
  socket.addEventListener("close", (event) => {
    state.textContent = `closed${event.reason ? ": " + event.reason : ""}`;
  });
  term.onData((data) => { if (socket.readyState === WebSocket.OPEN) socket.send(data); });
  window.addEventListener("resize", resize);
  window.bayTerminal = term; // for tests and the curious
}

document.addEventListener("DOMContentLoaded", () => {
  const element = document.getElementById("terminal");
  if (element && window.Terminal) openTerminal(element);
});
