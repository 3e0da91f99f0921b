// A skill consumer built with Microsoft's Agents SDK (`@microsoft/agents-hosting`): it invokes the
// handover skill with the SDK's AgentClient (which posts every invocation on a new conversation id,
// relating it to the original one) and receives the skill's replies through the SDK's own
// agent-response handler, behind a minimal HTTP shim. Prints one JSON line; the Rust test
// `skill/tests/api/interop.rs` runs it and checks the result.
//
// Usage: SKILL_ENDPOINT=http://127.0.0.1:5001/api/messages node agents-host.mjs
import http from 'node:http';
import hosting from '@microsoft/agents-hosting';
import activities from '@microsoft/agents-activity';

const { AgentClient, CloudAdapter, ConversationState, MemoryStorage, TurnContext, createAgentResponseHandler } = hosting;
const { Activity } = activities;

const skillEndpoint = process.env.SKILL_ENDPOINT;
if (!skillEndpoint) {
  console.error('SKILL_ENDPOINT is required');
  process.exit(2);
}

// Anonymous local development, as the SDK allows outside production: no client id, no tokens.
const adapter = new CloudAdapter({});
const conversationState = new ConversationState(new MemoryStorage());
const received = [];
const agent = {
  run: async (context) => {
    const { type, name, code, text, value } = context.activity;
    received.push({ type, name, code, text, value });
  },
};
const handleResponse = createAgentResponseHandler(adapter, agent, conversationState);

// The SDK's handler expects Express-like request and response objects.
const server = http.createServer(async (request, response) => {
  const match = /^\/api\/agentresponse\/v3\/conversations\/([^/]+)\/activities\/([^/]+)$/.exec(request.url ?? '');
  let body = '';
  for await (const chunk of request) body += chunk;
  const reply = {
    statusCode: 200,
    headersSent: false,
    status(code) { this.statusCode = code; return this; },
    setHeader(name, value) { response.setHeader(name, value); },
    send(payload) {
      this.headersSent = true;
      response.writeHead(this.statusCode);
      response.end(typeof payload === 'string' ? payload : JSON.stringify(payload ?? {}));
    },
  };
  if (request.method !== 'POST' || !match) {
    response.writeHead(404).end();
    return;
  }
  try {
    const params = { conversationId: decodeURIComponent(match[1]), activityId: decodeURIComponent(match[2]) };
    await handleResponse({ method: request.method, headers: request.headers, url: request.url, body: JSON.parse(body) }, reply, params);
  } catch (error) {
    if (!reply.headersSent) response.writeHead(500).end(String(error.message ?? error));
  }
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));

process.env.HandoffSkill_endpoint = skillEndpoint;
process.env.HandoffSkill_clientId = 'handoff-skill';
process.env.HandoffSkill_serviceUrl = `http://127.0.0.1:${server.address().port}/api/agentresponse/`;
const client = new AgentClient('HandoffSkill');

const user = {
  type: 'message',
  id: 'teams-activity-1',
  channelId: 'msteams',
  serviceUrl: 'https://smba.trafficmanager.net/teams/',
  from: { id: '29:agents-user', name: 'Agents User' },
  recipient: { id: '28:contoso-agent', name: 'Contoso Agent' },
  conversation: { id: 'a:agents-teams-conversation' },
  locale: 'en-US',
  text: 'I need to talk to a person',
};

async function invoke(fields) {
  const activity = Activity.fromObject({ ...user, id: `host-${Math.random().toString(16).slice(2)}`, ...fields });
  const context = new TurnContext(adapter, Activity.fromObject(user));
  return client.postActivity(activity, {}, conversationState, context);
}

async function waitFor(predicate) {
  const deadline = Date.now() + 10000;
  while (Date.now() < deadline) {
    const found = received.find(predicate);
    if (found) return found;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('the skill did not answer');
}

// One line from the test driving this host (it acts as the live chat's agent meanwhile).
async function nextInputLine() {
  for await (const chunk of process.stdin) return String(chunk).trim();
  return '';
}

const report = {};
if (process.env.HOST_FLOW === 'outcomes') {
  // The outputs of every action, as the SDK hands them to the consumer: the chat ends on the
  // agent's side, the next message ends sendMessage with its outcome, then a rating and a left
  // message.
  try {
    await invoke({ type: 'event', name: 'startConversation' });
    const started = await waitFor((a) => a.type === 'endOfConversation' && a.name === 'startConversation');
    report.startEnd = started;
    await invoke({ type: 'message', text: 'Hello from the Agents SDK' });
    console.log(JSON.stringify({ ready: started.value.liveChatConversationId }));
    await nextInputLine();
    await invoke({ type: 'message', text: 'Are you still there?' });
    report.messageEnd = await waitFor((a) => a.type === 'endOfConversation' && a.value && a.value.Outcome);
    const livechat = started.value.liveChatConversationId;
    await invoke({ type: 'event', name: 'rateConversation', value: { LiveChatConversationId: livechat, Rating: 5, Comment: 'Great help' } });
    report.rateEnd = await waitFor((a) => a.type === 'endOfConversation' && a.name === 'rateConversation');
    await invoke({ type: 'event', name: 'leaveMessage', value: { Message: 'Call me back, please' } });
    report.leaveEnd = await waitFor((a) => a.type === 'endOfConversation' && a.name === 'leaveMessage');
  } catch (error) {
    report.error = String(error.stack ?? error);
  }
  console.log(JSON.stringify(report));
  server.close();
  process.exit(report.error ? 1 : 0);
}
try {
  report.start = await invoke({ type: 'event', name: 'startConversation' });
  report.startEnd = await waitFor((a) => a.type === 'endOfConversation' && a.name === 'startConversation');
  report.message = await invoke({ type: 'message', text: 'Hello from the Agents SDK' });
  report.end = await invoke({ type: 'event', name: 'endConversation' });
  report.endEnd = await waitFor((a) => a.type === 'endOfConversation' && a.name === 'endConversation');
} catch (error) {
  report.error = String(error.stack ?? error);
}
console.log(JSON.stringify(report));
server.close();
process.exit(report.error ? 1 : 0);
