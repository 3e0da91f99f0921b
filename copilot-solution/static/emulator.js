// The stand-in's chat page: lines arrive over server-sent events (numbered, so a reconnect resumes
// where it stopped) and are shown with textContent only: a line's parts (Teams Markdown, rendered
// by the stand-in into runs of one style each) become <strong>, <em>, <s> and <code> elements.
(() => {
  'use strict';
  const list = document.getElementById('lines');
  const status = document.getElementById('status');
  const form = document.getElementById('composer');
  const input = document.getElementById('message');
  const seen = new Set();
  const show = (line) => {
    if (seen.has(line.seq)) return;
    seen.add(line.seq);
    const item = document.createElement('li');
    item.className = `line ${line.role}`;
    item.dataset.seq = String(line.seq);
    if (line.role !== 'system') {
      const meta = document.createElement('div');
      meta.className = 'meta';
      meta.textContent = line.sender;
      item.append(meta);
    }
    const body = document.createElement('div');
    body.className = 'body';
    for (const part of line.parts) {
      let node = document.createTextNode(part.text);
      for (const [style, tag] of [['code', 'code'], ['strikethrough', 's'], ['emphasis', 'em'], ['strong', 'strong']]) {
        if (part[style]) {
          const element = document.createElement(tag);
          element.append(node);
          node = element;
        }
      }
      body.append(node);
    }
    item.append(body);
    list.append(item);
    item.scrollIntoView({ block: 'end' });
  };
  // The live agent typing: shown for a few seconds after each indicator, hidden by the next
  // message from the bot's account (theirs, as Teams shows it).
  const typing = document.getElementById('typing');
  let typingTimer;
  const hideTyping = () => { typing.classList.add('hidden'); };
  const source = new EventSource('/chat/events');
  source.addEventListener('line', (event) => {
    const line = JSON.parse(event.data);
    if (line.role === 'bot') hideTyping();
    show(line);
  });
  source.addEventListener('typing', () => {
    typing.classList.remove('hidden');
    clearTimeout(typingTimer);
    typingTimer = setTimeout(hideTyping, 4000);
  });
  source.addEventListener('open', () => { status.textContent = ''; });
  source.addEventListener('error', () => { status.textContent = 'Reconnecting…'; });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = '';
    const response = await fetch('/chat/messages', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ text }) });
    status.textContent = response.ok ? '' : 'The message could not be sent.';
    input.focus();
  });
  document.getElementById('reset').addEventListener('click', async () => {
    await fetch('/chat/reset', { method: 'POST' });
    input.focus();
  });
})();
