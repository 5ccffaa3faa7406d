#!/usr/bin/env python3
# serve_load.py: a bounded load test of `awqc serve`: starts the server on a
# free loopback port, sends N requests from C concurrent clients (chat and
# completions, streamed and not, small max_tokens), and checks that none fails
# and that the server's resident memory (VmRSS) does not grow between a warm-up
# round and the end. Prints the figures recorded in docs/serve.md.
#   bench/serve_load.py --awqc build-rel/cli/awqc [--clients 8] [--requests 100]
import argparse
import http.client
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time


def parse_args():
    p = argparse.ArgumentParser(description="bounded load test of awqc serve")
    p.add_argument("--awqc", default=os.environ.get("AWQC_BIN", "build/cli/awqc"))
    p.add_argument("--model", default=None, help="default: the cached default model")
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--requests", type=int, default=100)
    p.add_argument("--max-tokens", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--max-growth-kib", type=int, default=4096,
                   help="RSS growth tolerated after the warm-up (allocator noise)")
    return p.parse_args()


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1))


def start_server(args):
    cmd = [args.awqc, "serve", "--port", "0", "-t", str(args.threads), "--ctx", "512"]
    if args.model:
        cmd += ["-m", args.model]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        m = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        if m:
            threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep draining
            return proc, int(m.group(1))
    sys.exit(f"the server did not start (exit {proc.wait()})")


# The request mix: (path, body); prompts vary so the KV prefix reuse is partial.
def request_for(i, max_tokens):
    stream = i % 2 == 1
    if i % 4 < 2:
        return "/v1/chat/completions", {"messages": [{"role": "user", "content": f"Give me fact number {i} about cats."}],
                                        "max_tokens": max_tokens, "temperature": 0.7, "seed": i, "stream": stream}
    return "/v1/completions", {"prompt": f"Item {i}: the quick brown fox", "max_tokens": max_tokens,
                               "temperature": 0, "stream": stream}


def send(port, i, max_tokens):
    """One request; returns (ok, seconds, detail)."""
    path, body = request_for(i, max_tokens)
    t0 = time.time()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read().decode()
        conn.close()
    except OSError as e:
        return False, time.time() - t0, repr(e)
    if resp.status != 200:
        return False, time.time() - t0, f"status {resp.status}: {data[:200]}"
    if body["stream"]:
        ok = data.rstrip().endswith("data: [DONE]") and data.count("data: ") >= 2
    else:
        ok = json.loads(data)["usage"]["completion_tokens"] >= 1
    return ok, time.time() - t0, "" if ok else data[:200]


def run_round(port, first, count, clients, max_tokens):
    results, lock, next_i = [], threading.Lock(), [first]

    def client():
        while True:
            with lock:
                i = next_i[0]
                if i >= first + count:
                    return
                next_i[0] += 1
            r = send(port, i, max_tokens)
            with lock:
                results.append(r)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def main():
    args = parse_args()
    proc, port = start_server(args)
    try:
        warm = run_round(port, 0, args.clients, args.clients, args.max_tokens)
        rss_before = rss_kib(proc.pid)
        t0 = time.time()
        res = run_round(port, args.clients, args.requests, args.clients, args.max_tokens)
        wall = time.time() - t0
        rss_after = rss_kib(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=60)
    failed = [r for r in warm + res if not r[0]]
    lat = sorted(r[1] for r in res)
    growth = rss_after - rss_before
    print(f"requests: {len(res)} (+{len(warm)} warm-up), clients: {args.clients}, max_tokens: {args.max_tokens}")
    print(f"failed: {len(failed)}")
    for f in failed[:5]:
        print("  ", f[2])
    print(f"wall: {wall:.1f} s, {len(res) / wall:.2f} req/s; latency p50 {statistics.median(lat):.2f} s, "
          f"p95 {lat[int(0.95 * (len(lat) - 1))]:.2f} s, max {lat[-1]:.2f} s")
    print(f"server RSS: {rss_before} KiB after warm-up, {rss_after} KiB at the end ({growth:+d} KiB)")
    print(f"server exit on SIGTERM: {rc}")
    ok = not failed and growth <= args.max_growth_kib and rc == 0
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


sys.exit(main())
