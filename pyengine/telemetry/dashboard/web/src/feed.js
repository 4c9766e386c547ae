// WebSocket feed of state deltas from the engine, reconnecting with backoff.
// A token given in the page's own URL (?token=...) is sent back to the server; the
// server never puts it into the page.
export function pageToken() {
  return new URLSearchParams(window.location.search).get('token') || '';
}

export function connect(onMessage, onStatus) {
  let delay = 500;
  let socket;
  let closed = false;
  function open() {
    const proto = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
    const token = pageToken();
    const url = `${proto}//${window.location.host}/ws${token ? `?token=${encodeURIComponent(token)}` : ''}`;
    socket = new WebSocket(url);
    socket.onopen = () => { delay = 500; onStatus('live'); };
    socket.onmessage = (ev) => onMessage(JSON.parse(ev.data));
    socket.onclose = () => {
      onStatus('disconnected');
      if (!closed) setTimeout(open, delay);
      delay = Math.min(delay * 2, 10000);
    };
  }
  open();
  return () => { closed = true; socket && socket.close(); };
}

export async function operatorAction(action, token, reason) {
  const res = await fetch(`api/${action}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    body: JSON.stringify({ reason }),
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.error || `HTTP ${res.status}`);
  return body.result;
}
