#!/usr/bin/env bash
# serve.sh: `awqc serve` on a free loopback port, driven by real clients:
# curl for health, models, chat and completions (plain and streamed), stop
# strings, concurrent requests and every refused request (400, 404, 405, 413);
# then the openai Python package, when installed, for the same calls. Ends
# with SIGTERM and a clean exit. Skips (77) without the default model.
set -u
AWQC=${AWQC_BIN:?set by ctest}
. "$(dirname "$0")/lib/expect.sh"

model=$(default_model)
if [ ! -f "$model" ]; then echo "SKIP: default model not cached at $model (run scripts/setup.sh)"; exit 77; fi
command -v curl >/dev/null || { echo "SKIP: curl is not installed (scripts/setup.sh --deps)"; exit 77; }
if "$AWQC" serve --port 0 -m /nonexistent.gguf 2>&1 | grep -q 'built without libmicrohttpd'; then
  echo "SKIP: awqc was built without libmicrohttpd"; exit 77
fi

tmp=$(mktemp -d)
pid=
stop_server() { if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=; fi; }
trap 'stop_server; rm -rf "$tmp"' EXIT

# --port 0 takes a free port; the server prints it once it listens.
"$AWQC" serve -m "$model" -t 2 --ctx 256 --port 0 --max-body 4096 --name smol 2>"$tmp/server.log" &
pid=$!
port=$(served_port "$tmp/server.log" "$pid")
if [ -z "$port" ]; then echo "FAIL: the server did not start:"; cat "$tmp/server.log"; exit 1; fi
url=http://127.0.0.1:$port

# http NAME WANT_STATUS PATTERN CURL_ARGS...: the status must match and the
# body must match PATTERN (grep -E).
http() {
  local name=$1 want=$2 pattern=$3; shift 3
  local status
  status=$(curl -sS -o "$tmp/body" -w '%{http_code}' --max-time 300 "$@" 2>"$tmp/curl.err")
  checks=$((checks + 1))
  if [ "$status" != "$want" ] || ! grep -qE -- "$pattern" "$tmp/body"; then
    fails=$((fails + 1))
    echo "FAIL: $name: status $status (want $want), body:"; head -c 2000 "$tmp/body" | sed 's/^/    /'; echo
    cat "$tmp/curl.err"
    if ! kill -0 "$pid" 2>/dev/null; then echo "FAIL: the server died:"; cat "$tmp/server.log"; pid=; exit 1; fi
  fi
}
post() { http "$1" "$2" "$3" -H 'Content-Type: application/json' -d "$5" "$url$4"; }

chat='"messages":[{"role":"user","content":"What is the capital of France?"}],"temperature":0'
http health 200 '^\{"status":"ok"\}$' "$url/health"
http models 200 '"data":\[\{"id":"smol","object":"model"' "$url/v1/models"
post chat 200 '"object":"chat.completion".*"message":\{"role":"assistant","content":"[^"]+".*"completion_tokens":3' \
  /v1/chat/completions "{$chat,\"max_tokens\":3}"
post chat-max-completion-tokens 200 '"finish_reason":"length"' \
  /v1/chat/completions "{$chat,\"max_completion_tokens\":2,\"model\":\"whatever\",\"user\":\"u\",\"n\":1,\"seed\":1}"
post completion 200 '"object":"text_completion".*"text":" Paris' \
  /v1/completions '{"prompt":"The capital of France is","max_tokens":2,"temperature":0}'
post stop-string 200 '"text":"".*"finish_reason":"stop"' \
  /v1/completions '{"prompt":"The capital of France is","max_tokens":4,"temperature":0,"stop":[" Paris","zzz"]}'

# Streams: several events, the chat one opens with the role, both end with [DONE].
post chat-stream 200 '^data: \[DONE\]$' /v1/chat/completions "{$chat,\"max_tokens\":3,\"stream\":true}"
same chat-stream-events 6 "$(grep -c '^data: ' "$tmp/body")"
expect chat-stream-role 0 '"delta":\{"role":"assistant","content":""\}' cat "$tmp/body"
expect chat-stream-chunk 0 '"object":"chat.completion.chunk".*"finish_reason":"length"' cat "$tmp/body"
post completion-stream 200 '"text":" Paris"' /v1/completions \
  '{"prompt":"The capital of France is","max_tokens":2,"temperature":0,"stream":true,"stream_options":{"include_usage":true}}'
expect completion-stream-usage 0 '"choices":\[\],"usage":\{"prompt_tokens":[0-9]+,"completion_tokens":2' cat "$tmp/body"
expect completion-stream-done 0 '^data: \[DONE\]$' cat "$tmp/body"

# Refused requests, each with an OpenAI-shaped error.
post malformed 400 '"error":\{"message":"malformed JSON in the request body at byte [0-9]+","type":"invalid_request_error"' \
  /v1/chat/completions '{"messages": ['
post unknown-field 400 '"message":"unknown field .logit_bias.".*"param":"logit_bias"' \
  /v1/chat/completions "{$chat,\"logit_bias\":{}}"
post field-of-other-endpoint 400 '"param":"prompt"' /v1/chat/completions "{$chat,\"prompt\":\"x\"}"
post unknown-message-field 400 "unknown field 'messages\[0\]\.tool_calls'" \
  /v1/chat/completions '{"messages":[{"role":"user","content":"hi","tool_calls":[]}]}'
post bad-role 400 '"param":"messages\[0\]"' /v1/chat/completions '{"messages":[{"role":"wizard","content":"hi"}]}'
post no-messages 400 "'messages' is required" /v1/chat/completions '{"max_tokens":2}'
post n-2 400 'only n=1 is supported' /v1/completions '{"prompt":"x","n":2}'
post duplicate-field 400 "field 'messages' appears more than once" /v1/chat/completions \
  '{"messages":[{"role":"user","content":"a"}],"messages":[{"role":"user","content":"b"},{"role":"user","content":"c"}]}'
post penalty 400 "'presence_penalty' is not supported \(only 0\)" /v1/completions '{"prompt":"x","presence_penalty":0.5}'
post temperature-range 400 "'temperature' must be a number in \[0, 2\]" /v1/completions '{"prompt":"x","temperature":3}'
post not-object 400 'must be a JSON object' /v1/completions '[1,2]'
long=$(printf 'word %.0s' $(seq 1 300))
post prompt-too-long 400 'maximum context length is 256 tokens; the request has [0-9]+ prompt tokens.*"code":"context_length_exceeded"' \
  /v1/completions "{\"prompt\":\"$long\",\"max_tokens\":2}"
post prompt-plus-max-tokens 400 'the request has [0-9]+ prompt tokens and asks for 300 completion tokens' \
  /v1/completions '{"prompt":"The capital of France is","max_tokens":300}'
big=$(printf 'x%.0s' $(seq 1 5000))
post oversized 413 '"message":"the request body is larger than 4096 bytes"' /v1/completions "{\"prompt\":\"$big\"}"
http wrong-method 405 'method GET is not allowed on /v1/chat/completions' "$url/v1/chat/completions"
http wrong-method-health 405 'use GET' -X POST -d '{}' "$url/health"
http unknown-path 404 '"message":"unknown path /v2/engines"' "$url/v2/engines"

# Concurrent requests queue for the one engine and all succeed.
clients=()
for i in 1 2 3; do
  curl -sS --max-time 300 -o "$tmp/par$i" -w '%{http_code}' -d "{\"prompt\":\"Number $i is\",\"max_tokens\":2}" \
    "$url/v1/completions" >"$tmp/par$i.status" &
  clients+=($!)
done
wait "${clients[@]}"
for i in 1 2 3; do
  expect "concurrent-$i" 0 '"completion_tokens":2' cat "$tmp/par$i"
  same "concurrent-$i-status" 200 "$(cat "$tmp/par$i.status")"
done

# The openai package (optional): the same calls through OpenAI's own client.
if python3 -c 'import openai' 2>/dev/null; then
  expect openai-client 0 '^openai: all ok$' python3 - "$url" <<'EOF'
import sys
import openai
client = openai.OpenAI(base_url=sys.argv[1] + "/v1", api_key="unused", max_retries=0, timeout=300)
msgs = [{"role": "user", "content": "What is the capital of France?"}]
r = client.chat.completions.create(model="smol", messages=msgs, max_tokens=3, temperature=0)
assert r.choices[0].message.role == "assistant" and r.choices[0].message.content, r
assert r.usage.completion_tokens == 3, r.usage
parts = [c.choices[0].delta.content or "" for c in client.chat.completions.create(
    model="smol", messages=msgs, max_tokens=3, temperature=0, stream=True) if c.choices]
assert len(parts) >= 3 and "".join(parts) == r.choices[0].message.content, (parts, r)
c = client.completions.create(model="smol", prompt="The capital of France is", max_tokens=2, temperature=0)
assert c.choices[0].text.startswith(" Paris"), c
streamed = "".join(x.choices[0].text for x in client.completions.create(
    model="smol", prompt="The capital of France is", max_tokens=2, temperature=0, stream=True))
assert streamed == c.choices[0].text, (streamed, c)
try:
    client.chat.completions.create(model="smol", messages=msgs, max_tokens=2, extra_body={"bogus": 1})
    raise AssertionError("unknown field accepted")
except openai.BadRequestError as e:
    assert "bogus" in str(e), e
assert [m.id for m in client.models.list()] == ["smol"]
print("openai: all ok")
EOF
else
  echo "SKIP (openai half): the openai Python package is not installed (pip install openai; scripts/setup.sh does)"
fi

# SIGTERM: a clean exit, reported in the log.
kill -TERM "$pid"; wait "$pid"; rc=$?; pid=
same sigterm-exit 0 "$rc"
expect sigterm-log 0 'SIGTERM: shutting down' cat "$tmp/server.log"
report
