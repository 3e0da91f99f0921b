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
  const me = meta('agent-username');
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
    document.querySelectorAll('.queued').forEach((node) => {
      node.textContent = node.dataset.since ? waited(node.dataset.since).replace('waiting', 'in the queue') : '';
    });
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
    const context = el('span', 'line context-line');
    context.append(el('span', 'problem'), el('span', 'channel'));
    const fourth = el('span', 'line');
    fourth.append(el('span', 'waiting'), el('span', 'queued'), el('span', 'holder'));
    text.append(first, second, context, fourth);
    link.append(el('span', 'avatar', name.charAt(0).toUpperCase()), text);
    const accept = el('form', 'accept-form');
    accept.method = 'post';
    accept.action = `/agent/conversations/${encodeURIComponent(summary.id)}/accept`;
    const hidden = el('input');
    hidden.type = 'hidden';
    hidden.name = 'csrf_token';
    hidden.value = csrf;
    const button = el('button', 'primary accept', 'Accept');
    button.type = 'submit';
    accept.append(hidden, button);
    row.append(link, accept);
    return row;
  };
  // Which inbox list a conversation belongs in.
  const listFor = (summary) => {
    if (summary.state === 'ended' || summary.status === 'ended') return 'ended-conversations';
    if (summary.status === 'assigned') return summary.assignedAgent === me ? 'my-conversations' : 'other-conversations';
    return 'queue-conversations';
  };
  const updateCounts = () => {
    const size = (id) => document.getElementById(id)?.children.length ?? 0;
    const set = (id, value) => { const node = document.getElementById(id); if (node) node.textContent = String(value); };
    set('queue-count', size('queue-conversations'));
    set('mine-count', size('my-conversations'));
    set('others-count', size('other-conversations'));
    set('ended-count', size('ended-conversations'));
    document.getElementById('no-queue')?.classList.toggle('hidden', size('queue-conversations') > 0);
    document.getElementById('no-mine')?.classList.toggle('hidden', size('my-conversations') > 0);
  };
  const onInboxConversation = (summary) => {
    let row = document.querySelector(`li.conversation[data-conversation-id="${CSS.escape(summary.id)}"]`);
    if (!row) row = buildRow(summary);
    const ended = summary.state === 'ended';
    const lastAt = summary.lastMessageAt || summary.createdAt;
    const listId = listFor(summary);
    row.classList.toggle('ended', ended);
    row.dataset.status = ended ? 'ended' : (summary.status || 'waiting');
    row.dataset.queuedAt = summary.queuedAt || '';
    row.querySelector('.problem').textContent = summary.problemDescription || '';
    row.querySelector('.channel').textContent = summary.channel || '';
    const queued = row.querySelector('.queued');
    queued.dataset.since = listId === 'queue-conversations' ? (summary.queuedAt || '') : '';
    queued.textContent = queued.dataset.since ? waited(queued.dataset.since).replace('waiting', 'in the queue') : '';
    row.querySelector('.holder').textContent = listId === 'other-conversations' ? (summary.agentName || '') : '';
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
    const list = document.getElementById(listId);
    if (ended) {
      list.prepend(row);
    } else {
      // The queue by its order (oldest first); the others longest-waiting first, then oldest.
      const key = listId === 'queue-conversations'
        ? (node) => node.dataset.queuedAt || ''
        : (node) => node.dataset.waitingSince || `~${node.dataset.lastMessageAt}`;
      const before = [...list.children].find((other) => other !== row && key(other) > key(row));
      list.insertBefore(row, before ?? null);
    }
    if (ended) unread.delete(summary.id); else unread.set(summary.id, count);
    updateCounts();
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
  // A file of an entry: a picture as a thumbnail from this origin, anything else as a download link.
  const inlinePictures = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'];
  // Sizes as the live chat writes them (1 KB = 1,024 bytes).
  const sizeText = (bytes) => {
    const one = (value, unit) => `${value % 1 < 0.05 || value >= 100 ? value.toFixed(0) : value.toFixed(1)} ${unit}`;
    if (bytes < 1024) return `${bytes} bytes`;
    if (bytes < 1024 ** 2) return `${Math.round(bytes / 1024)} KB`;
    if (bytes < 1024 ** 3) return one(bytes / 1024 ** 2, 'MB');
    return one(bytes / 1024 ** 3, 'GB');
  };
  let kindLabels = {};
  try { kindLabels = JSON.parse(transcript?.dataset.kindLabels || '{}'); } catch { kindLabels = {}; }
  const renderAttachment = (file) => {
    const box = el('div', `attachment${file.removed ? ' removed' : ''}`);
    const url = `/agent/files/${encodeURIComponent(file.id)}`;
    const kind = kindLabels[file.contentType] || file.contentType;
    const details = el('span', 'file-details', ` ${kind} · ${sizeText(file.size)}`);
    if (file.removed) {
      box.append(el('span', 'file-name', file.name), details, el('span', 'file-details', ' · removed after the conversation ended'));
      return box;
    }
    if (inlinePictures.includes(file.contentType)) {
      const link = el('a', 'thumb-link');
      link.href = url;
      link.target = '_blank';
      link.rel = 'noopener';
      const image = el('img', 'thumb');
      image.src = url;
      image.alt = file.name;
      image.loading = 'lazy';
      link.append(image);
      const name = el('a', 'file-name', file.name);
      name.href = url;
      name.target = '_blank';
      name.rel = 'noopener';
      box.append(link, name, details);
    } else {
      const name = el('a', 'file-name file-link', file.name);
      name.href = url;
      name.setAttribute('download', '');
      box.append(name, details);
    }
    return box;
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
    item.append(metaLine);
    if (message.message) item.append(el('div', 'body', message.message));
    if (message.masked && message.masked.length) {
      const masked = el('div', 'masked', `Masked: ${message.masked.join(', ').replaceAll('-', ' ')}`);
      masked.title = 'The original was never stored';
      item.append(masked);
    }
    (message.attachments || []).forEach((file) => item.append(renderAttachment(file)));
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
  const page$ = document.getElementById('conversation');
  const holderLine = document.getElementById('holder-line');
  const takenNote = document.getElementById('taken-note');
  const showHolder = (summary) => {
    if (!page$ || summary.state === 'ended') return;
    const mine = summary.status === 'assigned' && summary.assignedAgent === me;
    const waiting = summary.status === 'waiting';
    if (page$.classList.contains('is-waiting') && !waiting && !mine && takenNote) {
      takenNote.textContent = `${summary.agentName || 'Another agent'} accepted this conversation.`;
    }
    page$.classList.toggle('is-mine', mine);
    page$.classList.toggle('is-waiting', waiting);
    const badge = document.querySelector('.state-badge');
    if (badge) badge.textContent = waiting ? 'Waiting' : 'Open';
    if (holderLine) {
      holderLine.textContent = waiting ? 'Waiting for an agent.'
        : mine ? 'You have this conversation.'
          : `${summary.agentName || 'Another agent'} has this conversation; you can read it.`;
    }
  };
  const onConversationSummary = (summary) => {
    if (summary.id === conversationId) {
      unread.delete(summary.id);
      if (summary.state === 'ended') markEnded(); else showHolder(summary);
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
  // The file to send: chosen, dropped or pasted, shown before it goes, checked against the limits.
  const attach = document.getElementById('attach');
  const preview = document.getElementById('attachment-preview');
  const maxFileBytes = Number(composer?.dataset.maxFileBytes || 0);
  const accepted = (composer?.dataset.accept || '').split(',').filter(Boolean);
  let previewUrl = null;
  const fileProblem = (file) => {
    if (!file) return '';
    if (file.size === 0) return `${file.name} is empty.`;
    if (maxFileBytes && file.size > maxFileBytes) {
      return `${file.name} is ${sizeText(file.size)}; files up to ${composer.dataset.maxFileSize} can be sent.`;
    }
    return '';
  };
  const showPreview = () => {
    if (!preview || !attach) return;
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    previewUrl = null;
    const file = attach.files?.[0];
    preview.replaceChildren();
    preview.classList.toggle('hidden', !file);
    if (!file) return;
    if (inlinePictures.includes(file.type)) {
      previewUrl = URL.createObjectURL(file);
      const image = el('img');
      image.src = previewUrl;
      image.alt = '';
      preview.append(image);
    }
    const text = el('span', 'file-name', file.name);
    preview.append(text, el('span', 'file-details', sizeText(file.size)));
    const problem = fileProblem(file);
    if (problem) {
      preview.append(el('span', 'warning', problem));
    } else if (file.type && accepted.length && !accepted.includes(file.type)) {
      preview.append(el('span', 'warning', 'The live chat may not take files of this kind.'));
    }
    const remove = el('button', 'link', 'Remove');
    remove.type = 'button';
    remove.addEventListener('click', () => { attach.value = ''; showPreview(); reply?.focus(); });
    preview.append(remove);
  };
  const useFile = (file) => {
    if (!attach || !file) return;
    const transfer = new DataTransfer();
    transfer.items.add(file);
    attach.files = transfer.files;
    showPreview();
  };
  attach?.addEventListener('change', showPreview);
  composer?.addEventListener('dragover', (event) => {
    if (![...(event.dataTransfer?.types || [])].includes('Files')) return;
    event.preventDefault();
    composer.classList.add('dragging');
  });
  composer?.addEventListener('dragleave', () => composer.classList.remove('dragging'));
  composer?.addEventListener('drop', (event) => {
    composer.classList.remove('dragging');
    const file = event.dataTransfer?.files?.[0];
    if (!file) return;
    event.preventDefault();
    useFile(file);
  });
  reply?.addEventListener('paste', (event) => {
    const file = [...(event.clipboardData?.files || [])][0];
    if (!file) return;
    event.preventDefault();
    const named = file.name && file.name !== 'image.png' ? file : new File([file], `pasted-picture.${(file.type.split('/')[1] || 'png')}`, { type: file.type });
    useFile(named);
  });
  // What the live chat answered when it refused: the sentence of its page, or of its JSON.
  const refusal = async (response) => {
    const text = await response.text();
    try { return JSON.parse(text).error; } catch { /* a page */ }
    return new DOMParser().parseFromString(text, 'text/html').querySelector('p.message')?.textContent?.trim();
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
      const file = attach?.files?.[0];
      if (!reply.value.trim() && !file) return;
      const problem = fileProblem(file);
      if (problem) {
        showError(problem);
        return;
      }
      const body = new FormData(composer);
      if (!file) body.delete('file');
      reply.disabled = true;
      try {
        const response = await fetch(composer.action, {
          method: 'POST',
          headers: { Accept: 'application/json', 'X-CSRF-Token': csrf },
          body,
          credentials: 'same-origin',
        });
        if (response.ok) {
          reply.value = '';
          if (attach) attach.value = '';
          showPreview();
          showError('');
          onMessage(await response.json());
        } else if (response.status === 403) {
          showError('Your session has expired. Reload the page and sign in again.');
        } else {
          let text = '';
          try { text = await refusal(response); } catch { /* keep the default */ }
          showError(text || 'The reply could not be sent: the conversation may have ended.');
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
  // The sentence of an error page.
  const errorText = (html) => new DOMParser().parseFromString(html, 'text/html').querySelector('p.message')?.textContent?.trim();
  // Accepting, from a queue row or the conversation page: the first agent wins, the others hear so.
  document.addEventListener('submit', async (event) => {
    const form = event.target;
    if (!form.matches('form.accept-form, #accept-form')) return;
    event.preventDefault();
    const response = await post(form.action);
    if (response.ok) {
      const conversation = await response.json();
      if (page === 'inbox') {
        window.location.href = `/agent/conversations/${encodeURIComponent(conversation.id)}`;
      } else {
        showHolder(conversation);
      }
      return;
    }
    let text = 'The conversation could not be accepted.';
    try { text = errorText(await response.text()) || text; } catch { /* keep the default */ }
    if (page === 'inbox') {
      const row = form.closest('li.conversation');
      row?.querySelector('.holder')?.replaceChildren(document.createTextNode(text));
    } else if (takenNote) {
      takenNote.textContent = text;
    }
  });
  document.getElementById('transfer-form')?.addEventListener('submit', async (event) => {
    event.preventDefault();
    const form = event.target;
    const response = await post(form.action, new URLSearchParams(new FormData(form)));
    if (response.ok) {
      window.location.reload();
    } else if (takenNote) {
      let text = 'The conversation could not be transferred.';
      try { text = errorText(await response.text()) || text; } catch { /* keep the default */ }
      takenNote.textContent = text;
    }
  });
  const presence = document.getElementById('presence');
  presence?.addEventListener('change', async () => {
    const form = document.getElementById('presence-form');
    const response = await post(form.action, new URLSearchParams(new FormData(form)));
    if (response.ok) presence.className = `presence ${presence.value}`;
  });
  const capacity = document.getElementById('capacity');
  capacity?.addEventListener('change', () => {
    const form = document.getElementById('capacity-form');
    post(form.action, new URLSearchParams(new FormData(form)));
  });
  document.getElementById('capacity-form')?.addEventListener('submit', (event) => {
    event.preventDefault();
    post(event.target.action, new URLSearchParams(new FormData(event.target)));
  });
  const onAgent = (agent) => {
    if (agent.username !== me) return;
    const active = document.getElementById('active-count');
    if (active) active.textContent = String(agent.active);
    if (presence && presence.value !== agent.presence) {
      presence.value = agent.presence;
      presence.className = `presence ${agent.presence}`;
    }
    if (capacity && document.activeElement !== capacity) capacity.value = String(agent.capacity);
  };

  // Prepared replies: `/` and the start of a name offers them; Tab or Enter takes the first.
  const canned = document.getElementById('canned');
  let replies = [];
  try { replies = JSON.parse(document.getElementById('canned-replies')?.dataset.replies || '[]'); } catch { replies = []; }
  const cannedMatches = () => {
    const match = reply?.value.match(/(?:^|\s)\/([\w-]*)$/);
    if (!match) return [];
    const typed = match[1].toLowerCase();
    return replies.filter((item) => item.name.toLowerCase().startsWith(typed));
  };
  const insertCanned = (item) => {
    reply.value = reply.value.replace(/\/[\w-]*$/, item.text);
    canned.classList.add('hidden');
    reply.focus();
  };
  const showCanned = () => {
    if (!canned) return;
    const matches = cannedMatches();
    canned.replaceChildren(...matches.map((item, index) => {
      const option = el('li', index === 0 ? 'active' : '');
      option.setAttribute('role', 'option');
      option.dataset.name = item.name;
      option.append(el('span', 'name', `/${item.name}`), el('span', 'text', item.text));
      option.addEventListener('mousedown', (event) => { event.preventDefault(); insertCanned(item); });
      return option;
    }));
    canned.classList.toggle('hidden', matches.length === 0);
  };

  // Typing: told to the customer at most every 3 s while the agent types.
  let lastTyping = 0;
  const typed = () => {
    if (!conversationId || !page$?.classList.contains('is-mine')) return;
    const now = Date.now();
    if (now - lastTyping < 3000) return;
    lastTyping = now;
    post(`/agent/conversations/${encodeURIComponent(conversationId)}/typing`).catch(() => {});
  };
  reply?.addEventListener('input', () => {
    showCanned();
    if (reply.value.trim() && !reply.value.startsWith('/')) typed();
  });
  reply?.addEventListener('keydown', (event) => {
    if (canned && !canned.classList.contains('hidden') && (event.key === 'Tab' || event.key === 'Enter')) {
      const first = cannedMatches()[0];
      if (first) {
        event.preventDefault();
        event.stopImmediatePropagation();
        insertCanned(first);
      }
    } else if (event.key === 'Escape') {
      canned?.classList.add('hidden');
    }
  }, true);

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
  // A page the browser keeps for Back (the back/forward cache) must not keep its stream open: each
  // holds one of the browser's few connections to the live chat, and a few such pages leave none
  // for the next page. Closed when left; a page shown again from the cache reloads, up to date.
  window.addEventListener('pagehide', () => source.close());
  window.addEventListener('pageshow', (event) => { if (event.persisted) window.location.reload(); });
  source.addEventListener('conversation', (event) => {
    const summary = JSON.parse(event.data);
    if (page === 'inbox') onInboxConversation(summary); else onConversationSummary(summary);
  });
  // The supervisor's view and the dashboard: what changed is drawn again by the server (its HTML,
  // escaped there), at most once a second, and put in place of the old as a node.
  if (page === 'supervisor' || page === 'dashboard') {
    let pending = null;
    const redraw = () => {
      if (pending) return;
      pending = setTimeout(async () => {
        pending = null;
        const response = await fetch(window.location.pathname, { headers: { Accept: 'text/html' } });
        if (!response.ok) return;
        const fresh = new DOMParser().parseFromString(await response.text(), 'text/html').getElementById('board');
        if (fresh) document.getElementById('board')?.replaceWith(document.importNode(fresh, true));
      }, 1000);
    };
    ['conversation', 'message', 'agent'].forEach((kind) => source.addEventListener(kind, redraw));
  }
  source.addEventListener('message', (event) => onMessage(JSON.parse(event.data)));
  source.addEventListener('delivery', (event) => onDelivery(JSON.parse(event.data)));
  source.addEventListener('agent', (event) => onAgent(JSON.parse(event.data)));
  // A private note or a whisper (the stream sends a whisper only to whom it is for).
  const onNote = (note) => {
    if (!transcript || note.conversationId !== conversationId) return;
    if (transcript.querySelector(`[data-note-id="${CSS.escape(note.id)}"]`)) return;
    const item = el('li', note.whisperTo ? 'message note whisper' : 'message note');
    item.dataset.noteId = note.id;
    const metaLine = el('div', 'meta');
    const time = el('time', null, clock(note.createdAt));
    time.dateTime = note.createdAt;
    const label = note.whisperTo ? `Whisper to ${note.whisperTo}` : 'Private note';
    metaLine.append(el('span', 'note-label', label), ' · ', el('span', 'sender', note.authorName), ' ', time);
    item.append(metaLine, el('div', 'body', note.body));
    transcript.append(item);
    item.scrollIntoView({ block: 'end' });
  };
  source.addEventListener('note', (event) => onNote(JSON.parse(event.data)));
  source.addEventListener('whisper', (event) => onNote(JSON.parse(event.data)));
  // A customer's data was erased: what the page shows of it goes too.
  source.addEventListener('erased', (event) => {
    const { conversationId: erased } = JSON.parse(event.data);
    document.querySelector(`li.conversation[data-conversation-id="${CSS.escape(erased)}"]`)?.remove();
    if (erased === conversationId && transcript) transcript.replaceChildren();
  });

  refreshTimes();
  setInterval(refreshTimes, 30000);
  updateTitle();
  if (transcript?.lastElementChild) transcript.lastElementChild.scrollIntoView({ block: 'end' });
})();
