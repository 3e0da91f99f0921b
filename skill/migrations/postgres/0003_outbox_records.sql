-- The outbox payloads of the previous release are rewritten into the current records; see
-- migrations/sqlite/0003_outbox_records.sql for why and how.
UPDATE deliveries
SET payload = jsonb_build_object(
        'address', jsonb_build_object(
            'serviceUrl', p -> 'serviceUrl',
            'channelId', p -> 'activity' -> 'channelId',
            'conversation', p -> 'activity' -> 'conversation',
            'user', p -> 'activity' -> 'recipient',
            'bot', p -> 'activity' -> 'from',
            'locale', p -> 'activity' -> 'locale'),
        'conversationId', p -> 'conversationId',
        'livechatConversationId', p -> 'livechatConversationId',
        'text', COALESCE(p -> 'activity' ->> 'text', ''),
        'textFormat', CASE WHEN p -> 'activity' ->> 'textFormat' = 'markdown' THEN 'markdown' ELSE 'plain' END)::text
FROM (SELECT id AS legacy_id, payload::jsonb AS p FROM deliveries WHERE lane = 'teams' AND state <> 'delivered') AS legacy
WHERE deliveries.id = legacy.legacy_id AND jsonb_typeof(legacy.p -> 'activity') = 'object';

UPDATE deliveries
SET payload = (payload::jsonb || jsonb_build_object('role',
        CASE WHEN payload::jsonb ->> 'sender' = 'System' THEN 'system' ELSE 'customer' END))::text
WHERE lane = 'livechat' AND state <> 'delivered' AND payload::jsonb ->> 'kind' = 'message'
  AND NOT (payload::jsonb ? 'role');
