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
    for (const shown of line.shown || []) item.append(render(shown));
    list.append(item);
    item.scrollIntoView({ block: 'end' });
  };
  // A picture, an Adaptive Card (its words and its link buttons), or a file the user attached.
  const render = (shown) => {
    const box = document.createElement('div');
    box.className = `shown ${shown.kind}`;
    if (shown.kind === 'picture') {
      const image = document.createElement('img');
      image.src = shown.url;
      image.alt = shown.name;
      box.append(image);
    } else if (shown.kind === 'card') {
      for (const text of shown.texts) {
        const paragraph = document.createElement('p');
        paragraph.textContent = text;
        box.append(paragraph);
      }
      for (const action of shown.actions) {
        const link = document.createElement('a');
        link.className = 'card-action';
        link.href = action.url;
        link.target = '_blank';
        link.rel = 'noopener';
        link.textContent = action.title;
        box.append(link);
      }
    } else {
      const name = document.createElement('strong');
      name.textContent = shown.name;
      const note = document.createElement('small');
      note.textContent = ` ${shown.note}`;
      box.append(name, note);
    }
    return box;
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
  // A file to send with the next message: a picture is sent as one pasted in Teams unless chosen
  // otherwise.
  const attach = document.getElementById('attach');
  const attachment = document.getElementById('attachment');
  const attachmentName = document.getElementById('attachment-name');
  const sendAs = document.getElementById('send-as');
  const clearAttachment = () => {
    attach.value = '';
    attachment.classList.add('hidden');
  };
  attach.addEventListener('change', () => {
    const file = attach.files[0];
    if (!file) { clearAttachment(); return; }
    attachmentName.textContent = file.name;
    sendAs.value = file.type.startsWith('image/') ? 'picture' : 'file';
    attachment.classList.remove('hidden');
  });
  document.getElementById('remove-attachment').addEventListener('click', clearAttachment);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const text = input.value.trim();
    const file = attach.files[0];
    if (!text && !file) return;
    const message = { text };
    if (file) {
      const stored = await fetch(`/chat/files?name=${encodeURIComponent(file.name)}`, { method: 'POST', headers: { 'Content-Type': file.type || 'application/octet-stream' }, body: file });
      if (!stored.ok) {
        status.textContent = 'The file could not be attached.';
        return;
      }
      message.attachment = { id: (await stored.json()).id, as: sendAs.value };
    }
    input.value = '';
    clearAttachment();
    const response = await fetch('/chat/messages', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(message) });
    status.textContent = response.ok ? '' : 'The message could not be sent.';
    input.focus();
  });
  document.getElementById('reset').addEventListener('click', async () => {
    await fetch('/chat/reset', { method: 'POST' });
    input.focus();
  });
})();
