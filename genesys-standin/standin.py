#!/usr/bin/env python3
"""A Genesys Cloud stand-in for the handover's tests and local demo.

It plays what the skill's Genesys adapter talks to: the OAuth token endpoint, the Open Messaging
inbound message and event endpoints, the conversation's read and the customer's leaving, the
notification channel (a WebSocket) and the integration's outbound webhook, signed as Genesys signs it (X-Hub-Signature-256).

Every request body the skill sends is checked against Genesys' own published models, those of its
official Python SDK (PureCloudPlatformClientV2): a field the model does not have, a value its enum
refuses, or a wrong type is a refusal (400) and is listed at /standin/report, which the tests read.
Every body the stand-in sends (answers, webhooks, notifications) is built from the same models.

A person or a test plays the Genesys agent: the page at / lists the conversations with their
messages and lets the agent take, answer, type in and leave each; /standin/agent/* does the same
for tests.

Configuration (environment): GENESYS_STANDIN_BIND (127.0.0.1:5003), GENESYS_STANDIN_WEBHOOK_URL
(the skill's webhook), GENESYS_CLIENT_ID, GENESYS_CLIENT_SECRET, GENESYS_INTEGRATION_ID,
WEBHOOK_SECRET (the integration's outbound signature secret), GENESYS_STANDIN_TOKEN_SECS (token
lifetime, 86400).
"""

import base64
import datetime
import hashlib
import hmac
import html
import json
import os
import queue
import re
import secrets
import socket
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import PureCloudPlatformClientV2 as genesys
from PureCloudPlatformClientV2.utils import sanitize_for_serialization

BIND = os.environ.get("GENESYS_STANDIN_BIND", "127.0.0.1:5003")
WEBHOOK_URL = os.environ.get("GENESYS_STANDIN_WEBHOOK_URL", "http://127.0.0.1:5001/api/livechat/messages")
CLIENT_ID = os.environ.get("GENESYS_CLIENT_ID", "standin-client")
CLIENT_SECRET = os.environ.get("GENESYS_CLIENT_SECRET", "standin-secret")
INTEGRATION_ID = os.environ.get("GENESYS_INTEGRATION_ID", "5a5c7c2a-0000-4000-8000-000000000001")
WEBHOOK_SECRET = os.environ.get("WEBHOOK_SECRET", "")
TOKEN_SECS = int(os.environ.get("GENESYS_STANDIN_TOKEN_SECS", "86400"))
MAX_TOPICS = 1000  # Genesys' limit on one notification channel
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

LOCK = threading.RLock()
TOKENS = {}  # token -> expiry (datetime)
TOKENS_ISSUED = [0]
CONVERSATIONS = {}  # conversation id -> dict
BY_ADDRESS = {}  # customer address -> conversation id (the open one)
SEEN = {}  # messageId -> answer body
CHANNELS = {}  # channel id -> {"topics": set, "queues": [queue.Queue]}
INVALID = []  # what the models refused
REQUESTS = {"count": 0}
WEBHOOKS = []  # (status, body) the skill answered


def now():
    return datetime.datetime.now(datetime.timezone.utc)


# ---- checking bodies against the SDK's models --------------------------------------------------

PRIMITIVES = {"str": str, "int": int, "bool": bool, "float": (int, float), "object": object}


def check(value, type_name, path, required=()):
    """The problems of `value` as the SDK type `type_name`, as a list of sentences."""
    problems = []
    if value is None:
        return problems
    if type_name.startswith("list["):
        if not isinstance(value, list):
            return [f"{path} must be a list"]
        for n, item in enumerate(value):
            problems += check(item, type_name[5:-1], f"{path}[{n}]")
        return problems
    if type_name.startswith("dict("):
        if not isinstance(value, dict):
            return [f"{path} must be an object"]
        inner = type_name[5:-1].split(",", 1)[1].strip()
        for key, item in value.items():
            problems += check(item, inner, f"{path}.{key}")
        return problems
    if type_name == "datetime":
        if not isinstance(value, str):
            return [f"{path} must be a date-time string"]
        try:
            datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            problems.append(f"{path} is not an ISO 8601 date-time: {value!r}")
        return problems
    if type_name in PRIMITIVES:
        expected = PRIMITIVES[type_name]
        if isinstance(value, bool) and type_name in ("int", "float"):
            return [f"{path} must be a number"]
        if not isinstance(value, expected):
            return [f"{path} must be {type_name}, not {type(value).__name__}"]
        return problems
    model = getattr(genesys, type_name, None)
    if model is None:
        return [f"{path}: the SDK has no model {type_name}"]
    if not isinstance(value, dict):
        return [f"{path} must be an object ({type_name})"]
    instance = model()
    by_json = {json_name: attr for attr, json_name in instance.attribute_map.items()}
    for key, item in value.items():
        attr = by_json.get(key)
        if attr is None:
            problems.append(f"{path}.{key} is not a field of Genesys' {type_name}")
            continue
        inner = instance.swagger_types[attr]
        if inner == "str" and isinstance(item, str):
            setattr(instance, attr, item)
            if getattr(instance, attr) == "outdated_sdk_version" and item != "outdated_sdk_version":
                problems.append(f"{path}.{key} = {item!r} is not a value Genesys' {type_name} allows")
        problems += check(item, inner, f"{path}.{key}")
    for field in required:
        holder = value
        for part in field.split("."):
            holder = holder.get(part) if isinstance(holder, dict) else None
        if holder in (None, ""):
            problems.append(f"{path}.{field} is required")
    return problems


def validated(body, type_name, where, required=()):
    problems = check(body, type_name, type_name, required)
    REQUESTS["count"] += 1
    if problems:
        with LOCK:
            INVALID.append({"where": where, "model": type_name, "problems": problems})
        print(f"genesys-standin: {where} refused by {type_name}: {problems}", file=sys.stderr, flush=True)
    return problems


def plain(model):
    return sanitize_for_serialization(model)


# ---- notifications -----------------------------------------------------------------------------

def participants_of(conversation):
    out = []
    customer = genesys.ConversationEventTopicMessage()
    customer.id = conversation["id"] + "-customer-media"
    customer.state = conversation["customer_state"]
    person = genesys.ConversationEventTopicParticipant()
    person.id = conversation["id"] + "-customer"
    person.purpose = "customer"
    person.name = conversation["nickname"] or "Customer"
    person.messages = [customer]
    out.append(person)
    for agent_id, agent in conversation["agents"].items():
        media = genesys.ConversationEventTopicMessage()
        media.id = agent_id + "-media"
        media.state = agent["state"]
        if agent.get("disconnect_type"):
            media.disconnect_type = agent["disconnect_type"]
        participant = genesys.ConversationEventTopicParticipant()
        participant.id = agent_id
        participant.purpose = "agent"
        participant.name = agent["name"]
        participant.user_id = agent["user"]
        participant.messages = [media]
        out.append(participant)
    return out


def publish(conversation):
    topic = "v2.conversations." + conversation["id"]
    body = genesys.ConversationEventTopicConversation()
    body.id = conversation["id"]
    body.participants = participants_of(conversation)
    text = json.dumps({
        "topicName": topic,
        "version": "2",
        "eventBody": plain(body),
        "metadata": {"CorrelationId": str(uuid.uuid4())},
    })
    with LOCK:
        targets = [c for c in CHANNELS.values() if topic in c["topics"]]
    for channel in targets:
        for q in list(channel["queues"]):
            q.put(text)


# ---- the outbound webhook ----------------------------------------------------------------------

def signed_post(body_bytes):
    request = urllib.request.Request(WEBHOOK_URL, data=body_bytes, method="POST")
    request.add_header("Content-Type", "application/json")
    if WEBHOOK_SECRET:
        digest = hmac.new(WEBHOOK_SECRET.encode(), body_bytes, hashlib.sha256).digest()
        request.add_header("X-Hub-Signature-256", "sha256=" + base64.b64encode(digest).decode())
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            status, text = answer.status, answer.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read().decode(errors="replace")
    except OSError as error:
        status, text = 0, str(error)
    with LOCK:
        WEBHOOKS.append({"status": status, "answer": text})
    return status


def outbound_channel(conversation, agent_name):
    channel = genesys.OpenMessagingChannel()
    channel.id = INTEGRATION_ID
    channel.platform = "Open"
    channel.type = "Private"
    channel.message_id = str(uuid.uuid4())
    to = genesys.OpenMessagingToRecipient()
    to.id = conversation["address"]
    to.id_type = "Opaque"
    channel.to = to
    sender = genesys.OpenMessagingFromRecipient()
    sender.id = INTEGRATION_ID
    sender.id_type = "Opaque"
    sender.nickname = agent_name
    channel.pcFrom = sender
    channel.time = now()
    return channel


def agent_message(conversation, text, name, repeat=1):
    message = genesys.OpenNormalizedMessage()
    message.id = str(uuid.uuid4())
    message.channel = outbound_channel(conversation, name)
    message.type = "Text"
    message.text = text
    message.direction = "Outbound"
    body = json.dumps(plain(message)).encode()
    with LOCK:
        conversation["messages"].append({"direction": "outbound", "text": text, "from": name})
    return [signed_post(body) for _ in range(max(1, repeat))]


def agent_typing(conversation, name):
    typing = genesys.ConversationEventTyping()
    typing.type = "On"
    typing.duration = 5000
    event = genesys.OpenMessageEvent()
    event.event_type = "Typing"
    event.typing = typing
    message = genesys.OpenEventNormalizedMessage()
    message.id = str(uuid.uuid4())
    message.channel = outbound_channel(conversation, name)
    message.type = "Event"
    message.events = [event]
    return [signed_post(json.dumps(plain(message)).encode())]


# ---- the HTTP server ---------------------------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "genesys-standin"

    def log_message(self, *args):
        pass

    def reply(self, status, body=None, content_type="application/json"):
        data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def json_body(self):
        raw = self.body()
        kind = self.headers.get("Content-Type", "")
        if "application/x-www-form-urlencoded" in kind:
            return {k: v[0] for k, v in urllib.parse.parse_qs(raw.decode()).items()}
        try:
            return json.loads(raw or b"null")
        except ValueError:
            return None

    def authorized(self):
        header = self.headers.get("Authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else None
        with LOCK:
            expiry = TOKENS.get(token)
        if expiry is None or expiry < now():
            self.reply(401, {"message": "Invalid login credentials.", "code": "bad.credentials", "status": 401})
            return False
        return True

    # GET ---------------------------------------------------------------------------------------
    def do_GET(self):
        path = urllib.parse.urlparse(self.path).path
        if path == "/healthz":
            return self.reply(200, {"status": "ok"})
        if path.startswith("/channels/") and self.headers.get("Upgrade", "").lower() == "websocket":
            return self.websocket(path.rsplit("/", 1)[1])
        if path == "/standin/conversations":
            with LOCK:
                return self.reply(200, [public(c) for c in CONVERSATIONS.values()])
        if path == "/standin/report":
            with LOCK:
                return self.reply(200, {
                    "invalid": INVALID, "requests": REQUESTS["count"], "tokensIssued": TOKENS_ISSUED[0],
                    "webhooks": WEBHOOKS[-50:],
                    "channels": {k: sorted(v["topics"]) for k, v in CHANNELS.items()},
                })
        if path == "/":
            return self.reply(200, page().encode(), "text/html; charset=utf-8")
        match = re.fullmatch(r"/api/v2/conversations/([^/]+)", path)
        if match:
            if not self.authorized():
                return
            return self.read_conversation(match.group(1))
        self.reply(404, {"message": "no such path", "status": 404})

    # POST / PUT --------------------------------------------------------------------------------
    def do_PUT(self):
        self.do_POST()

    def do_POST(self):
        path = urllib.parse.urlparse(self.path).path
        if path == "/oauth/token":
            return self.token()
        if path.startswith("/standin/"):
            return self.control(path)
        if not self.authorized():
            return
        match = re.fullmatch(r"/api/v2/conversations/messages/([^/]+)/inbound/open/(message|event)", path)
        if match:
            if match.group(1) != INTEGRATION_ID:
                self.body()
                return self.reply(404, {"message": f"Integration {match.group(1)} not found", "status": 404})
            return self.inbound_message() if match.group(2) == "message" else self.inbound_event()
        if path == "/api/v2/notifications/channels":
            self.body()
            return self.new_channel()
        match = re.fullmatch(r"/api/v2/notifications/channels/([^/]+)/subscriptions", path)
        if match:
            return self.subscribe(match.group(1))
        self.body()
        self.reply(404, {"message": "no such path", "status": 404})

    def token(self):
        form = urllib.parse.parse_qs(self.body().decode())
        header = self.headers.get("Authorization", "")
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if form.get("grant_type") != ["client_credentials"]:
            return self.reply(400, {"error": "unsupported_grant_type"})
        if not hmac.compare_digest(header, expected):
            return self.reply(401, {"error": "invalid_client", "description": "client not found"})
        token = secrets.token_urlsafe(32)
        with LOCK:
            TOKENS[token] = now() + datetime.timedelta(seconds=TOKEN_SECS)
            TOKENS_ISSUED[0] += 1
        self.reply(200, {"access_token": token, "token_type": "bearer", "expires_in": TOKEN_SECS})

    def inbound_message(self):
        body = self.json_body()
        problems = validated(body, "OpenInboundNormalizedMessage", "inbound message",
                             ("channel.from.id", "channel.from.idType", "channel.time", "channel.messageId"))
        if problems:
            return self.reply(400, {"message": "; ".join(problems), "status": 400, "code": "bad.request"})
        channel = body["channel"]
        with LOCK:
            if channel["messageId"] in SEEN:
                return self.reply(200, SEEN[channel["messageId"]])
            address = channel["from"]["id"]
            conversation = CONVERSATIONS.get(BY_ADDRESS.get(address))
            if conversation is None or conversation["customer_state"] == "disconnected":
                conversation = {
                    "id": str(uuid.uuid4()), "address": address, "nickname": channel["from"].get("nickname"),
                    "customer_state": "connected", "agents": {}, "messages": [], "typing": 0,
                    "metadata": body.get("metadata") or {},
                }
                CONVERSATIONS[conversation["id"]] = conversation
                BY_ADDRESS[address] = conversation["id"]
            conversation["messages"].append({
                "direction": "inbound", "text": body.get("text", ""), "messageId": channel["messageId"],
                "from": channel["from"].get("nickname"),
            })
            answer = genesys.OpenMessageNormalizedMessage()
            answer.id = str(uuid.uuid4())
            out = genesys.OpenMessagingChannel()
            out.id = INTEGRATION_ID
            out.platform = "Open"
            out.type = "Private"
            out.message_id = channel["messageId"]
            sender = genesys.OpenMessagingFromRecipient()
            sender.id = address
            sender.id_type = channel["from"]["idType"]
            out.pcFrom = sender
            out.time = now()
            answer.channel = out
            answer.type = "Text"
            answer.text = body.get("text", "")
            answer.conversation_id = conversation["id"]
            SEEN[channel["messageId"]] = plain(answer)
            self.reply(200, SEEN[channel["messageId"]])

    def inbound_event(self):
        body = self.json_body()
        problems = validated(body, "OpenInboundNormalizedEvent", "inbound event",
                             ("channel.from.id", "channel.from.idType", "channel.time", "events"))
        if problems:
            return self.reply(400, {"message": "; ".join(problems), "status": 400, "code": "bad.request"})
        with LOCK:
            conversation = CONVERSATIONS.get(BY_ADDRESS.get(body["channel"]["from"]["id"]))
            if conversation is not None:
                conversation["typing"] += sum(1 for e in body["events"] if e.get("eventType") == "Typing")
        answer = genesys.OpenEventNormalizedMessage()
        answer.id = str(uuid.uuid4())
        answer.type = "Event"
        self.reply(202, plain(answer))

    def read_conversation(self, conversation_id):
        with LOCK:
            conversation = CONVERSATIONS.get(conversation_id)
            if conversation is None:
                return self.reply(404, {"message": "conversation not found", "status": 404})
            body = genesys.Conversation()
            body.id = conversation["id"]
            people = []
            for topic in participants_of(conversation):
                media = genesys.Message()
                media.id = topic.messages[0].id
                media.state = topic.messages[0].state
                if topic.messages[0].disconnect_type:
                    media.disconnect_type = topic.messages[0].disconnect_type
                person = genesys.Participant()
                person.id = topic.id
                person.name = topic.name
                person.purpose = topic.purpose
                person.messages = [media]
                people.append(person)
            body.participants = people
        self.reply(200, plain(body))

    def do_PATCH(self):
        path = urllib.parse.urlparse(self.path).path
        if not self.authorized():
            return
        match = re.fullmatch(r"/api/v2/conversations/messages/([^/]+)/participants/([^/]+)", path)
        if not match:
            self.body()
            return self.reply(404, {"message": "no such path", "status": 404})
        body = self.json_body()
        problems = validated(body, "MediaParticipantRequest", "participant update", ("state",))
        if problems:
            return self.reply(400, {"message": "; ".join(problems), "status": 400, "code": "bad.request"})
        conversation_id, participant_id = match.groups()
        with LOCK:
            conversation = CONVERSATIONS.get(conversation_id)
            if conversation is None:
                return self.reply(404, {"message": "conversation not found", "status": 404})
            if participant_id != conversation["id"] + "-customer":
                return self.reply(400, {"message": "the stand-in lets only the customer be disconnected", "status": 400})
            if body["state"] != "disconnected":
                return self.reply(400, {"message": "the stand-in only disconnects", "status": 400})
            # The customer left: the conversation ends for its agents too, as Genesys ends it.
            conversation["customer_state"] = "disconnected"
            for agent in conversation["agents"].values():
                if agent["state"] != "disconnected":
                    agent["state"], agent["disconnect_type"] = "disconnected", "peer"
        publish(conversation)
        self.reply(202, b"")

    def new_channel(self):
        channel_id = "streaming-" + secrets.token_hex(8)
        with LOCK:
            CHANNELS[channel_id] = {"topics": set(), "queues": []}
        channel = genesys.Channel()
        channel.id = channel_id
        channel.connect_uri = f"ws://{BIND}/channels/{channel_id}"
        channel.expires = now() + datetime.timedelta(hours=24)
        self.reply(200, plain(channel))

    def subscribe(self, channel_id):
        body = self.json_body()
        problems = validated(body, "list[ChannelTopic]", "subscriptions")
        if problems:
            return self.reply(400, {"message": "; ".join(problems), "status": 400})
        with LOCK:
            channel = CHANNELS.get(channel_id)
            if channel is None:
                return self.reply(404, {"message": "channel not found", "status": 404})
            topics = {topic["id"] for topic in body}
            topics = topics if self.command == "PUT" else channel["topics"] | topics
            if len(topics) > MAX_TOPICS:
                return self.reply(400, {"message": f"a channel holds at most {MAX_TOPICS} topics", "status": 400})
            channel["topics"] = topics
            listing = genesys.ChannelTopicEntityListing()
            entities = []
            for topic in sorted(channel["topics"]):
                entity = genesys.ChannelTopic()
                entity.id = topic
                entity.state = "Permitted"
                entities.append(entity)
            listing.entities = entities
        self.reply(200, plain(listing))

    # playing the agent --------------------------------------------------------------------------
    def control(self, path):
        body = self.json_body() or {}
        form = "application/x-www-form-urlencoded" in self.headers.get("Content-Type", "")
        with LOCK:
            conversation_id = body.get("conversationId") or BY_ADDRESS.get(body.get("address", ""))
            conversation = CONVERSATIONS.get(conversation_id)
        if conversation is None:
            return self.reply(404, {"error": "no such conversation"})
        name = body.get("name") or "Alex"
        statuses = []
        if path == "/standin/agent/join":
            with LOCK:
                for agent in conversation["agents"].values():
                    if agent["state"] == "connected":
                        agent["state"], agent["disconnect_type"] = "disconnected", "transfer"
                agent_id = str(uuid.uuid4())
                conversation["agents"][agent_id] = {"name": name, "state": "connected", "user": str(uuid.uuid4())}
            publish(conversation)
        elif path == "/standin/agent/send":
            agent = connected_agent(conversation)
            statuses = agent_message(conversation, body.get("text", ""), agent or name, int(body.get("repeat", 1)))
        elif path == "/standin/agent/typing":
            statuses = agent_typing(conversation, connected_agent(conversation) or name)
        elif path == "/standin/agent/leave":
            with LOCK:
                for agent in conversation["agents"].values():
                    if agent["state"] == "connected":
                        agent["state"], agent["disconnect_type"] = "disconnected", "client"
            publish(conversation)
        else:
            return self.reply(404, {"error": "no such control"})
        if form:
            self.send_response(303)
            self.send_header("Location", "/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.reply(200, {"conversationId": conversation["id"], "webhookStatuses": statuses})

    # the notification channel -------------------------------------------------------------------
    def websocket(self, channel_id):
        with LOCK:
            channel = CHANNELS.get(channel_id)
        key = self.headers.get("Sec-WebSocket-Key")
        if channel is None or not key:
            return self.reply(404, {"message": "channel not found"})
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        outgoing = queue.Queue()
        with LOCK:
            channel["queues"].append(outgoing)
        closed = threading.Event()
        write_lock = threading.Lock()
        connection = self.connection

        def send(opcode, payload):
            header = bytes([0x80 | opcode])
            size = len(payload)
            if size < 126:
                header += bytes([size])
            elif size < 65536:
                header += bytes([126]) + size.to_bytes(2, "big")
            else:
                header += bytes([127]) + size.to_bytes(8, "big")
            with write_lock:
                connection.sendall(header + payload)

        def reader():
            try:
                while not closed.is_set():
                    head = recv_exact(connection, 2)
                    opcode, size = head[0] & 0x0F, head[1] & 0x7F
                    if size == 126:
                        size = int.from_bytes(recv_exact(connection, 2), "big")
                    elif size == 127:
                        size = int.from_bytes(recv_exact(connection, 8), "big")
                    mask = recv_exact(connection, 4) if head[1] & 0x80 else b"\0\0\0\0"
                    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(recv_exact(connection, size)))
                    if opcode == 0x8:
                        break
                    if opcode == 0x9:
                        send(0xA, payload)
            except OSError:
                pass
            closed.set()

        threading.Thread(target=reader, daemon=True).start()
        try:
            while not closed.is_set():
                try:
                    text = outgoing.get(timeout=1)
                except queue.Empty:
                    continue
                send(0x1, text.encode())
        except OSError:
            pass
        finally:
            closed.set()
            with LOCK:
                if outgoing in channel["queues"]:
                    channel["queues"].remove(outgoing)
            self.close_connection = True


def recv_exact(connection, size):
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            raise OSError("closed")
        data += chunk
    return data


def connected_agent(conversation):
    for agent in conversation["agents"].values():
        if agent["state"] == "connected":
            return agent["name"]
    return None


def public(conversation):
    return {
        "conversationId": conversation["id"], "address": conversation["address"],
        "nickname": conversation["nickname"], "customerState": conversation["customer_state"],
        "agents": list(conversation["agents"].values()), "messages": conversation["messages"],
        "typing": conversation["typing"], "metadata": conversation["metadata"],
    }


def page():
    rows = []
    with LOCK:
        conversations = list(CONVERSATIONS.values())
    for c in reversed(conversations):
        lines = "".join(
            f"<li class='{html.escape(m['direction'])}'><b>{html.escape(m.get('from') or '')}</b>: "
            f"{html.escape(m['text'])}</li>" for m in c["messages"])
        agent = connected_agent(c)
        state = "ended" if c["customer_state"] == "disconnected" else (f"with {html.escape(agent)}" if agent else "waiting")
        cid = html.escape(c["id"])
        rows.append(f"""<section><h2>{html.escape(c['nickname'] or 'Customer')} ({state})</h2><ul>{lines}</ul>
<form method=post action=/standin/agent/join><input type=hidden name=conversationId value='{cid}'>
<input name=name value=Alex> <button>Take the conversation</button></form>
<form method=post action=/standin/agent/send><input type=hidden name=conversationId value='{cid}'>
<input name=text size=60 autofocus> <button>Send</button></form>
<form method=post action=/standin/agent/leave><input type=hidden name=conversationId value='{cid}'>
<button>Leave (disconnect)</button></form></section>""")
    body = "".join(rows) or "<p>No conversations yet: ask the bot for a person.</p>"
    return f"""<!doctype html><html><head><meta charset=utf-8><title>Genesys stand-in: agent</title>
<meta http-equiv=refresh content=3><style>body{{font-family:sans-serif;max-width:60em;margin:1em auto}}
section{{border:1px solid #ccc;padding:.5em 1em;margin:1em 0}}.outbound{{color:#0645ad}}form{{display:inline-block;margin:.2em}}</style>
</head><body><h1>Genesys Cloud stand-in: play the agent</h1>{body}</body></html>"""


def main():
    host, port = BIND.rsplit(":", 1)
    server = ThreadingHTTPServer((host, int(port)), Handler)
    server.daemon_threads = True
    print(f"genesys-standin: listening on http://{BIND} (webhook {WEBHOOK_URL})", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
