// Checks the proactive activities the skill sent to Teams with Microsoft's own code: each must parse
// with @microsoft/agents-activity (its schema, as an Agents SDK bot reads an activity), each image
// attachment must be one Teams shows inline, and each Adaptive Card must parse and validate with
// Microsoft's Adaptive Cards library (adaptivecards 3) at the version every Teams client supports,
// 1.4, with no unknown element or property value. Prints one JSON line: a report per activity.
// The Rust test `skill/tests/api/interop.rs` runs it with the activities on stdin.
//
// Usage: node check-teams-activities.mjs < activities.json
import { createRequire } from 'node:module';
import { Activity } from '@microsoft/agents-activity';

// The library's CommonJS bundle (its `lib/` build is ES modules without file extensions, which
// Node cannot load as they are).
const AdaptiveCards = createRequire(import.meta.url)(
  new URL('./node_modules/adaptivecards/dist/adaptivecards.js', import.meta.url).pathname,
);
const TEAMS_CARD_VERSION = new AdaptiveCards.Version(1, 4);

let input = '';
for await (const chunk of process.stdin) input += chunk;
const activities = JSON.parse(input);

const checkCard = (content) => {
  const card = new AdaptiveCards.AdaptiveCard();
  const context = new AdaptiveCards.SerializationContext(TEAMS_CARD_VERSION);
  card.parse(content, context);
  const problems = [];
  for (let i = 0; i < context.eventCount; i += 1) problems.push(context.getEventAt(i).message);
  for (const event of card.validateProperties().validationEvents) problems.push(event.message);
  if (card.version.toString() !== TEAMS_CARD_VERSION.toString()) {
    problems.push(`the card is version ${card.version}, not ${TEAMS_CARD_VERSION}`);
  }
  const actions = [];
  for (let i = 0; i < card.getActionCount(); i += 1) {
    const action = card.getActionAt(i);
    actions.push({ type: action.getJsonTypeName(), title: action.title, url: action.url });
  }
  return { problems, actions };
};

const report = activities.map((raw) => {
  const result = { parsed: false, problems: [], attachments: [] };
  try {
    const activity = Activity.fromObject(raw);
    result.parsed = true;
    result.type = activity.type;
    for (const attachment of activity.attachments ?? []) {
      if (attachment.contentType === 'application/vnd.microsoft.card.adaptive') {
        const card = checkCard(attachment.content);
        result.problems.push(...card.problems);
        result.attachments.push({ kind: 'card', actions: card.actions });
      } else if (/^image\/(png|jpeg|gif)$/.test(attachment.contentType)) {
        if (!/^https?:\/\//.test(attachment.contentUrl ?? '')) {
          result.problems.push(`the picture has no web contentUrl: ${attachment.contentUrl}`);
        }
        result.attachments.push({ kind: 'picture', contentUrl: attachment.contentUrl, name: attachment.name });
      } else {
        result.problems.push(`an attachment Teams would not show: ${attachment.contentType}`);
      }
    }
  } catch (error) {
    result.problems.push(`the SDK refused the activity: ${error.message}`);
  }
  return result;
});
console.log(JSON.stringify(report));
