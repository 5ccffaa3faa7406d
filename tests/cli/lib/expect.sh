# expect.sh: the checks the CLI test scripts share (sourced, not run: ctest
# runs only tests/cli/*.sh). Counts checks and failures in $checks and $fails;
# a script ends with `report`.
fails=0; checks=0

# The default model where scripts/setup.sh caches it ($AWQC_MODEL overrides).
default_model() {
  echo "${AWQC_MODEL:-${AWQC_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/awqc}/SmolLM2-135M-Instruct.Q4_1.gguf}"
}

# served_port LOG PID: waits (at most 60 s) for `awqc serve --port 0`, its
# stderr going to LOG, to print the port it listens on; echoes the port, or
# nothing when the server exits first.
served_port() {
  local log=$1 pid=$2 port
  for _ in $(seq 1 600); do
    port=$(grep -oE 'http://127\.0\.0\.1:[0-9]+' "$log" | grep -oE '[0-9]+$') && { echo "$port"; return; }
    kill -0 "$pid" 2>/dev/null || return
    sleep 0.1
  done
}

# expect NAME WANT_RC PATTERN CMD...: runs CMD, checks its exit code and that
# its stdout+stderr match PATTERN (grep -E).
expect() {
  local name=$1 want=$2 pattern=$3; shift 3
  local out rc
  out=$("$@" 2>&1); rc=$?
  checks=$((checks + 1))
  if [ "$rc" != "$want" ] || ! grep -qE -- "$pattern" <<<"$out"; then
    fails=$((fails + 1))
    echo "FAIL: $name: exit $rc (want $want), output:"; sed 's/^/    /' <<<"$out" | head -20
  fi
}

# same NAME A B: two strings must be equal.
same() {
  checks=$((checks + 1))
  if [ "$2" != "$3" ]; then fails=$((fails + 1)); printf 'FAIL: %s:\n    %s\n    %s\n' "$1" "$2" "$3"; fi
}

# report: prints the tally; its status is the script's (0 when nothing failed).
report() {
  echo "$((checks - fails)) passed, $fails failed"
  [ "$fails" -eq 0 ]
}
