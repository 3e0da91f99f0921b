// Live updates for the agent pages. Everything arrives as server-sent events numbered by the server;
// EventSource reconnects by itself and resumes from Last-Event-ID, so nothing is missed or doubled.
// Text from customers and agents is only ever set with textContent, never parsed as HTML.
(() => {
  'use strict';
  const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.content;
  const page = meta('page');
  if (!page) return;
  const csrf = meta('csrf-token');
  const conversationId = meta('conversation-id');
  const unread = new Map();
  const el = (tag, className, text) => {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  };
  const clock = (iso) => {
    const date = new Date(iso);
    return Number.isNaN(date.getTime()) ? '' : date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  };
  const waited = (iso) => {
    if (!iso) return '';
    const minutes = Math.max(0, Math.floor((Date.now() - new Date(iso).getTime()) / 60000));
    if (minutes < 1) return 'waiting < 1 min';
    if (minutes < 60) return `waiting ${minutes} min`;
    return `waiting ${Math.floor(minutes / 60)} h ${minutes % 60} min`;
  };
  const refreshTimes = () => {
    document.querySelectorAll('time[datetime]').forEach((node) => { node.textContent = clock(node.dateTime) || node.textContent; });
    document.querySelectorAll('.waiting').forEach((node) => { node.textContent = waited(node.dataset.since); });
  };
  const post = (url, body) => fetch(url, {
    method: 'POST',
    headers: { Accept: 'application/json', 'X-CSRF-Token': csrf, 'Content-Type': 'application/x-www-form-urlencoded' },
    body: body ?? new URLSearchParams({ csrf_token: csrf }),
    credentials: 'same-origin',
  });

  // The tab title counts unread customer messages in open conversations.
  const baseTitle = document.title.replace(/^\(\d+\) /, '');
  const updateTitle = () => {
    let total = 0;
    unread.forEach((count) => { total += count; });
    document.title = (total > 0 ? `(${total}) ` : '') + baseTitle;
  };
  document.querySelectorAll('li.conversation').forEach((row) => {
    const count = Number(row.querySelector('.unread')?.textContent || 0);
    if (!row.classList.contains('ended')) unread.set(row.dataset.conversationId, count);
  });

  // Inbox rows.
  const buildRow = (summary) => {
    const row = el('li', 'conversation');
    row.dataset.conversationId = summary.id;
    const link = el('a');
    link.href = `/agent/conversations/${encodeURIComponent(summary.id)}`;
    const name = summary.customerName || 'Customer';
    const text = el('span', 'summary');
    const first = el('span', 'line');
    first.append(el('strong', 'customer', name), el('time', 'when'));
    const second = el('span', 'line');
    second.append(el('span', 'last-message'), el('span', 'unread hidden'));
    text.append(first, second, el('span', 'waiting'));
    link.append(el('span', 'avatar', name.charAt(0).toUpperCase()), text);
    row.append(link);
    return row;
  };
  const onInboxConversation = (summary) => {
    let row = document.querySelector(`li.conversation[data-conversation-id="${CSS.escape(summary.id)}"]`);
    if (!row) row = buildRow(summary);
    const ended = summary.state === 'ended';
    const lastAt = summary.lastMessageAt || summary.createdAt;
    row.classList.toggle('ended', ended);
    row.dataset.lastMessageAt = lastAt;
    row.dataset.waitingSince = summary.waitingSince || '';
    row.querySelector('.customer').textContent = summary.customerName || 'Customer';
    const when = row.querySelector('.when');
    when.dateTime = lastAt;
    when.textContent = clock(lastAt);
    const last = summary.lastMessage || 'No messages yet';
    row.querySelector('.last-message').textContent = last.length > 120 ? `${last.slice(0, 120)}…` : last;
    const badge = row.querySelector('.unread');
    const count = ended ? 0 : summary.unread;
    badge.textContent = String(count);
    badge.classList.toggle('hidden', count === 0);
    const waiting = row.querySelector('.waiting');
    waiting.dataset.since = ended ? '' : (summary.waitingSince || '');
    waiting.textContent = waited(waiting.dataset.since);
    const list = document.getElementById(ended ? 'ended-conversations' : 'open-conversations');
    if (ended) {
      list.prepend(row);
    } else {
      // Longest-waiting first, then oldest.
      const key = (node) => node.dataset.waitingSince || `~${node.dataset.lastMessageAt}`;
      const before = [...list.children].find((other) => other !== row && key(other) > key(row));
      list.insertBefore(row, before ?? null);
    }
    if (ended) unread.delete(summary.id); else unread.set(summary.id, count);
    document.getElementById('open-count').textContent = String(document.getElementById('open-conversations').children.length);
    document.getElementById('ended-count').textContent = String(document.getElementById('ended-conversations').children.length);
    document.getElementById('no-open').classList.toggle('hidden', document.getElementById('open-conversations').children.length > 0);
    updateTitle();
  };

  // Conversation page.
  const transcript = document.getElementById('transcript');
  const stateLabel = { pending: 'Sending…', delivered: 'Delivered', failed: 'Not delivered' };
  const renderDelivery = (item, message) => {
    item.querySelector('.delivery')?.remove();
    if (!message.deliveryState) return;
    const delivery = el('div', `delivery ${message.deliveryState}`);
    delivery.title = message.lastError || '';
    delivery.append(el('span', 'state', stateLabel[message.deliveryState] || message.deliveryState));
    if (message.deliveryState === 'failed') {
      const form = el('form', 'retry');
      form.method = 'post';
      form.action = `/agent/messages/${encodeURIComponent(message.id)}/retry`;
      const button = el('button', 'link', 'Retry');
      button.type = 'submit';
      form.append(button);
      delivery.append(form);
    }
    item.append(delivery);
  };
  const onMessage = (message) => {
    if (!transcript || message.conversationId !== conversationId) return;
    if (transcript.querySelector(`[data-message-id="${CSS.escape(message.id)}"]`)) return;
    const item = el('li', `message ${message.role}`);
    item.dataset.messageId = message.id;
    const metaLine = el('div', 'meta');
    const time = el('time', null, clock(message.timestamp));
    time.dateTime = message.timestamp;
    metaLine.append(el('span', 'sender', message.sender), ' ', time);
    item.append(metaLine, el('div', 'body', message.message));
    renderDelivery(item, message);
    transcript.append(item);
    item.scrollIntoView({ block: 'end' });
    if (message.role !== 'agent' && document.visibilityState === 'visible') markRead();
  };
  const onDelivery = (message) => {
    const item = transcript?.querySelector(`[data-message-id="${CSS.escape(message.id)}"]`);
    if (item) renderDelivery(item, message);
  };
  const markEnded = () => {
    document.getElementById('conversation')?.classList.add('is-ended');
    const badge = document.querySelector('.state-badge');
    if (badge) badge.textContent = 'Ended';
  };
  const onConversationSummary = (summary) => {
    if (summary.id === conversationId) {
      unread.delete(summary.id);
      if (summary.state === 'ended') markEnded();
    } else if (summary.state === 'ended') {
      unread.delete(summary.id);
    } else {
      unread.set(summary.id, summary.unread);
    }
    updateTitle();
  };
  let readPending = false;
  const markRead = () => {
    if (!conversationId || readPending) return;
    readPending = true;
    post(`/agent/conversations/${encodeURIComponent(conversationId)}/read`).finally(() => { readPending = false; });
  };

  const composer = document.getElementById('composer');
  const reply = document.getElementById('reply');
  const composerError = document.getElementById('composer-error');
  const showError = (text) => {
    composerError.textContent = text;
    composerError.classList.toggle('hidden', !text);
  };
  if (composer && reply) {
    reply.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        composer.requestSubmit();
      }
    });
    composer.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (!reply.value.trim()) return;
      const body = new URLSearchParams(new FormData(composer));
      reply.disabled = true;
      try {
        const response = await post(composer.action, body);
        if (response.ok) {
          reply.value = '';
          showError('');
          onMessage(await response.json());
        } else if (response.status === 403) {
          showError('Your session has expired. Reload the page and sign in again.');
        } else {
          showError('The reply could not be sent: the conversation may have ended.');
        }
      } catch {
        showError('The reply could not be sent: the live chat is not reachable. Try again.');
      } finally {
        reply.disabled = false;
        reply.focus();
      }
    });
  }
  document.getElementById('end-form')?.addEventListener('submit', async (event) => {
    event.preventDefault();
    const response = await post(event.target.action);
    if (response.ok) markEnded();
  });
  transcript?.addEventListener('submit', async (event) => {
    if (!event.target.matches('form.retry')) return;
    event.preventDefault();
    const response = await post(event.target.action);
    if (response.ok) onDelivery(await response.json());
  });
  document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'visible') markRead(); });

  // The event stream.
  const indicator = document.getElementById('connection');
  const source = new EventSource(`/agent/events?since=${encodeURIComponent(meta('last-event-id') || '0')}`);
  source.addEventListener('open', () => indicator?.classList.add('live'));
  source.addEventListener('error', () => {
    indicator?.classList.remove('live');
    // A refused stream (signed out) is not retried by the browser: reload to land on sign-in.
    if (source.readyState === EventSource.CLOSED) setTimeout(() => window.location.reload(), 3000);
  });
  source.addEventListener('reload', () => window.location.reload());
  source.addEventListener('conversation', (event) => {
    const summary = JSON.parse(event.data);
    if (page === 'inbox') onInboxConversation(summary); else onConversationSummary(summary);
  });
  source.addEventListener('message', (event) => onMessage(JSON.parse(event.data)));
  source.addEventListener('delivery', (event) => onDelivery(JSON.parse(event.data)));

  refreshTimes();
  setInterval(refreshTimes, 30000);
  updateTitle();
  if (transcript?.lastElementChild) transcript.lastElementChild.scrollIntoView({ block: 'end' });
})();
