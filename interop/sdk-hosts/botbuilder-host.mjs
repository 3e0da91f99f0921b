// A skill consumer built with Microsoft's botbuilder SDK, standing in for Copilot Studio: it invokes
// the handover skill the way a Bot Framework host does (BotFrameworkClient.postActivity, a skill
// conversation id per invocation, a CloudSkillHandler behind its callback URL) and prints, as one JSON
// line, what the skill answered. The Rust test `skill/tests/api/interop.rs` runs it and checks the result.
//
// Usage: SKILL_ENDPOINT=http://127.0.0.1:5001/api/messages [FILE_URL=...] node botbuilder-host.mjs
import http from 'node:http';
import {
  ActivityHandler,
  CloudAdapter,
  CloudSkillHandler,
  ConfigurationBotFrameworkAuthentication,
  MemoryStorage,
  SkillConversationIdFactory,
  TurnContext,
} from 'botbuilder';

const skillEndpoint = process.env.SKILL_ENDPOINT;
if (!skillEndpoint) {
  console.error('SKILL_ENDPOINT is required');
  process.exit(2);
}

// Anonymous on both sides, as the SDK samples run locally: no app ids, no tokens.
const auth = new ConfigurationBotFrameworkAuthentication({});
const adapter = new CloudAdapter(auth);
const conversationIds = new SkillConversationIdFactory(new MemoryStorage());
const client = auth.createBotFrameworkClient();

// What the skill sent back through the callback URL, by skill conversation id.
const received = new Map();
const waiters = [];
function record(conversationId, activity) {
  const list = received.get(conversationId) ?? [];
  list.push(activity);
  received.set(conversationId, list);
  waiters.splice(0).forEach((wake) => wake());
}
async function waitFor(conversationId, type, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = (received.get(conversationId) ?? []).find((a) => a.type === type);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no ${type} from the skill for ${conversationId}`);
    await new Promise((resolve) => {
      waiters.push(resolve);
      setTimeout(resolve, 100);
    });
  }
}

class HostBot extends ActivityHandler {
  constructor() {
    super();
    this.onEndOfConversation(async (context, next) => {
      const reference = context.turnState.get(skillHandler.SkillConversationReferenceKey);
      record(reference?.skillConversationId ?? currentSkillConversation, {
        type: context.activity.type,
        name: context.activity.name,
        code: context.activity.code,
        text: context.activity.text,
        value: context.activity.value,
      });
      await next();
    });
  }
}
const bot = new HostBot();
let currentSkillConversation = '';
const skillHandler = new CloudSkillHandler(adapter, (context) => bot.run(context), conversationIds, auth);

// The host's skill callback endpoint: the Bot Connector routes a skill replies to.
const server = http.createServer(async (request, response) => {
  const match = /^\/api\/skills\/v3\/conversations\/([^/]+)\/activities(?:\/([^/]+))?$/.exec(request.url ?? '');
  if (request.method !== 'POST' || !match) {
    response.writeHead(404).end();
    return;
  }
  let body = '';
  for await (const chunk of request) body += chunk;
  try {
    const conversationId = decodeURIComponent(match[1]);
    const activity = JSON.parse(body);
    currentSkillConversation = conversationId;
    const authorization = request.headers.authorization ?? '';
    const result = match[2]
      ? await skillHandler.handleReplyToActivity(authorization, conversationId, decodeURIComponent(match[2]), activity)
      : await skillHandler.handleSendToConversation(authorization, conversationId, activity);
    if (activity.type !== 'endOfConversation') record(conversationId, activity);
    response.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(result ?? {}));
  } catch (error) {
    response.writeHead(error.statusCode ?? 500).end(String(error.message ?? error));
  }
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const callbackUrl = `http://127.0.0.1:${server.address().port}/api/skills`;

// The Teams user's turn that the host forwards to the skill.
const userActivity = {
  type: 'message',
  id: 'teams-activity-1',
  channelId: 'msteams',
  serviceUrl: 'https://smba.trafficmanager.net/teams/',
  from: { id: '29:interop-user', name: 'Interop User', aadObjectId: 'aad-interop' },
  recipient: { id: '28:contoso-agent', name: 'Contoso Agent' },
  conversation: { id: 'a:teams-conversation', tenantId: 'interop-tenant' },
  locale: 'en-US',
  text: 'I need to talk to a person',
};

// One skill invocation, as SkillDialog makes it: a new skill conversation id, then postActivity.
async function invoke(fields, expectEndOfConversation = true) {
  const skillConversationId = await conversationIds.createSkillConversationIdWithOptions({
    activity: userActivity,
    fromBotOAuthScope: '',
    fromBotId: '',
    botFrameworkSkill: { id: 'HandoffSkill', appId: '', skillEndpoint },
  });
  const activity = { ...userActivity, id: `host-${Math.random().toString(16).slice(2)}`, ...fields };
  const response = await client.postActivity('', '', skillEndpoint, callbackUrl, skillConversationId, activity);
  const result = { status: response.status, body: response.body ?? null };
  if (expectEndOfConversation && response.status < 300 && !fields.deliveryMode) {
    result.endOfConversation = await waitFor(skillConversationId, 'endOfConversation');
  }
  return result;
}

const report = {};
try {
  report.start = await invoke({ type: 'event', name: 'startConversation', text: undefined });
  const liveChatConversationId = report.start.endOfConversation?.value?.liveChatConversationId;
  report.message = await invoke(
    { type: 'message', text: 'My printer is on fire', value: { LiveChatConversationId: liveChatConversationId, ProblemDescription: 'My printer is on fire' } },
    false,
  );
  // A picture, as Teams attaches one, when the test serves one at FILE_URL.
  if (process.env.FILE_URL) {
    report.picture = await invoke(
      {
        type: 'message',
        text: 'Here it is',
        attachments: [{ contentType: 'image/png', contentUrl: process.env.FILE_URL, name: 'printer.png' }],
        value: { LiveChatConversationId: liveChatConversationId },
      },
      false,
    );
  }
  report.expectReplies = await invoke({ type: 'event', name: 'startConversation', deliveryMode: 'expectReplies' });
  report.end = await invoke({ type: 'event', name: 'endConversation', value: { LiveChatConversationId: liveChatConversationId } });
  report.invoke = await invoke({ type: 'invoke', name: 'anything' }, false);
} catch (error) {
  report.error = String(error.stack ?? error);
}
console.log(JSON.stringify(report));
server.close();
process.exit(report.error ? 1 : 0);
