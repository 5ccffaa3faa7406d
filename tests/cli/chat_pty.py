#!/usr/bin/env python3
# chat_pty.py: drives `awqc chat --verbose` through a pseudo-terminal the way a
# user would: three turns whose answers must stream (several reads before the
# answer ends) and whose later turns reuse the KV cache (fewer new tokens than
# the history), then Ctrl-C during an answer (stops it, the session goes on)
# and Ctrl-C at the prompt (quits). Skips (77) without the default model.
import os
import pty
import re
import select
import signal
import sys
import time

AWQC = os.environ.get("AWQC_BIN")
if not AWQC:
    sys.exit("set AWQC_BIN (ctest does)")


def default_model():
    if os.environ.get("AWQC_MODEL"):
        return os.environ["AWQC_MODEL"]
    cache = os.environ.get("AWQC_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "awqc")
    return os.path.join(cache, "SmolLM2-135M-Instruct.Q4_1.gguf")


MODEL = default_model()
if not os.path.isfile(MODEL):
    print(f"SKIP: default model not cached at {MODEL} (run scripts/setup.sh)")
    sys.exit(77)

TIMEOUT = 300  # seconds for one step (ASan builds are slow)
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


class Session:
    """The child on a pty; everything it writes (stdout and stderr) is read here."""

    def __init__(self, argv):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execv(argv[0], argv)
        self.text = ""

    def read_until(self, pattern, start=0):
        """Reads until pattern matches text[start:]; returns (match, number of reads)."""
        deadline = time.time() + TIMEOUT
        reads = 0
        while True:
            m = re.search(pattern, self.text[start:])
            if m:
                return m, reads
            left = deadline - time.time()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                raise TimeoutError(f"no {pattern!r} within {TIMEOUT}s; output so far:\n{self.text}")
            try:
                data = os.read(self.fd, 4096)
            except OSError:
                data = b""
            if not data:
                raise EOFError(f"awqc ended before {pattern!r}; output:\n{self.text}")
            self.text += data.decode("utf-8", "replace")
            reads += 1

    def send(self, s):
        os.write(self.fd, s.encode())

    def wait(self):
        deadline = time.time() + TIMEOUT
        while time.time() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            try:  # drain, so the child never blocks on a full pty
                if select.select([self.fd], [], [], 0.2)[0]:
                    self.text += os.read(self.fd, 4096).decode("utf-8", "replace")
            except OSError:
                time.sleep(0.1)
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        return None


TURN = re.compile(r"prompt: (\d+) new tokens \(cache (\d+)\)")


def turn(s, message):
    """Sends one message; returns (new tokens, cached tokens, reads before the answer ended)."""
    start = len(s.text)
    s.send(message + "\n")
    s.read_until(re.escape(message) + r"\r?\n", start)  # the terminal's echo
    answer_start = len(s.text)
    m, reads = s.read_until(TURN.pattern, answer_start)
    s.read_until(r"\[prompt: \d+ tokens.*generated: \d+ tokens", answer_start)
    s.read_until(r"> ", answer_start + m.end())
    return int(m.group(1)), int(m.group(2)), reads - 1  # the last read holds the end


def main():
    s = Session([AWQC, "chat", "-m", MODEL, "-t", "2", "--ctx", "512", "-n", "8", "--temp", "0", "--verbose"])
    try:
        s.read_until(r"> ")
        history = 0
        for i, msg in enumerate(["Hi, who are you?", "What is the capital of France?", "And of Italy?"]):
            new, cached, reads = turn(s, msg)
            print(f"turn {i + 1}: {new} new tokens, {cached} cached, answer in {reads} reads")
            check(reads >= 2, f"turn {i + 1}: the answer came in {reads} read(s), not streamed")
            if i == 0:
                check(cached == 0, f"turn 1 found {cached} tokens in a fresh cache")
            else:
                check(cached > 0 and new < cached + new, f"turn {i + 1} re-processed the history: {new} new, {cached} cached")
                check(cached >= history, f"turn {i + 1} reused {cached} tokens, fewer than the {history} of turn {i}'s prompt")
            history = new + cached
        # Ctrl-C while an answer streams: it stops, the session goes on.
        start = len(s.text)
        s.send("Write a long story about a dragon.\n")
        s.read_until(r"dragon\.\r?\n", start)
        s.read_until(r"\S", len(s.text))  # the first piece of the answer
        s.send("\x03")
        s.read_until(r"\[stopped\]", start)
        s.read_until(r"> ", start)
        # Ctrl-C at the prompt quits.
        s.send("\x03")
        rc = s.wait()
        check(rc == 0, f"Ctrl-C at the prompt: exit {rc}, want 0")
    except (TimeoutError, EOFError) as e:
        check(False, str(e))
        os.kill(s.pid, signal.SIGKILL)
        os.waitpid(s.pid, 0)
    if failures:
        print(f"{len(failures)} failed; transcript:\n{s.text}")
        return 1
    print("chat_pty: all checks passed")
    return 0


sys.exit(main())
