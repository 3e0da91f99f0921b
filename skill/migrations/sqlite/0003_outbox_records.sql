-- The outbox payloads of the previous release are rewritten into the current records, so that one
-- reader serves every row (delivered rows are never read again and stay as they are):
-- a Teams delivery carried a rendered Bot Framework activity and now keeps the conversation
-- address and the text to show; a live-chat message had no sender role and now names it (the
-- sender "System" meant the skill itself).
UPDATE deliveries
SET payload = json_object(
        'address', json_object(
            'serviceUrl', payload ->> '$.serviceUrl',
            'channelId', payload ->> '$.activity.channelId',
            'conversation', payload -> '$.activity.conversation',
            'user', payload -> '$.activity.recipient',
            'bot', payload -> '$.activity.from',
            'locale', payload ->> '$.activity.locale'),
        'conversationId', payload ->> '$.conversationId',
        'livechatConversationId', payload ->> '$.livechatConversationId',
        'text', COALESCE(payload ->> '$.activity.text', ''),
        'textFormat', CASE WHEN payload ->> '$.activity.textFormat' = 'markdown' THEN 'markdown' ELSE 'plain' END)
WHERE lane = 'teams' AND state <> 'delivered' AND json_type(payload, '$.activity') = 'object';

UPDATE deliveries
SET payload = json_set(payload, '$.role',
        CASE WHEN payload ->> '$.sender' = 'System' THEN 'system' ELSE 'customer' END)
WHERE lane = 'livechat' AND state <> 'delivered' AND payload ->> '$.kind' = 'message'
  AND json_type(payload, '$.role') IS NULL;
