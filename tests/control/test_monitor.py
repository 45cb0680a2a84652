#!/usr/bin/env python3
"""test_monitor.py - the JSON-lines monitor: every command over
--monitor unix:PATH (status, stop, cont, info registers, info stats,
switch-engine, quit, and errors), a guest switched between engines from
the monitor that then runs to its normal end with the expected console
output, and --monitor stdio behind Ctrl-A c.  Prints PASS/FAIL lines;
exit status 1 if any failed.  BUILD selects the build directory."""
import json, os, socket, subprocess, sys, tempfile, time

BUILD = os.environ.get("BUILD", "build")
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
os.chdir(ROOT)
POPEK = os.path.join(BUILD, "popek")
fails = 0


def check(name, cond, detail=""):
    global fails
    if cond:
        print("PASS monitor: " + name)
    else:
        fails += 1
        print("FAIL monitor: %s %s" % (name, detail))


class Mon:
    def __init__(self, path):
        for _ in range(100):
            try:
                self.s = socket.socket(socket.AF_UNIX)
                self.s.connect(path)
                break
            except OSError:
                time.sleep(0.05)
        self.f = self.s.makefile("rw")

    def cmd(self, obj):
        self.f.write(json.dumps(obj) + "\n")
        self.f.flush()
        line = self.f.readline()
        return json.loads(line)


def start(args, elf):
    d = tempfile.mkdtemp()
    path = os.path.join(d, "mon.sock")
    p = subprocess.Popen([POPEK, "run", "-k", elf, "--monitor", "unix:" + path,
                          "-S"] + args, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return p, Mon(path)


# 1. every command, on a guest that runs long enough (cmos: > 1 s)
p, m = start(["-e", "interp"], os.path.join(BUILD, "guests", "cmos.elf"))
r = m.cmd({"cmd": "status"})
check("status of a machine started with -S is paused",
      r.get("ok") is True and r.get("status") == "paused" and
      r.get("engine") == "interp", r)
r = m.cmd({"cmd": "info registers"})
regs = r.get("registers", {})
check("info registers shows the entry point",
      r.get("ok") is True and regs.get("eip") == "0x10000c" and "cr0" in regs, r)
r = m.cmd({"cmd": "switch-engine", "engine": "bt"})
check("switch-engine bt while paused",
      r.get("ok") is True and r.get("engine") == "bt" and r.get("switches") == 1, r)
r = m.cmd({"cmd": "info", "what": "registers"})
check("registers survive the switch",
      r.get("registers", {}).get("eip") == "0x10000c", r)
r = m.cmd({"cmd": "cont"})
check("cont", r.get("ok") is True and r.get("status") == "running", r)
time.sleep(0.2)
r = m.cmd({"cmd": "status"})
check("status while running", r.get("status") == "running" and
      r.get("engine") == "bt", r)
r = m.cmd({"cmd": "stop"})
check("stop", r.get("ok") is True and r.get("status") == "paused", r)
r1 = m.cmd({"cmd": "info registers"})
time.sleep(0.1)
r2 = m.cmd({"cmd": "info registers"})
check("a stopped guest does not move",
      r1.get("registers") == r2.get("registers") and
      r1["registers"]["eip"] != "0x10000c", (r1, r2))
r = m.cmd({"cmd": "info stats"})
st = r.get("stats", {})
check("info stats is the live --stats object",
      r.get("ok") is True and st.get("engine") == "bt" and
      st.get("engine_switches") == 1 and "bt" in st and
      st["engine_seconds"].get("bt", 0) > 0, r)
r = m.cmd({"cmd": "switch-engine", "engine": "nosuch"})
check("switch-engine to an unknown engine is refused",
      r.get("ok") is False and "nosuch" in r.get("error", ""), r)
r = m.cmd({"cmd": "frobnicate"})
check("an unknown command is refused", r.get("ok") is False, r)
r = m.cmd({"cmd": "switch-engine", "engine": "interp"})
check("switch-engine back to interp", r.get("ok") is True and
      r.get("switches") == 2, r)
m.cmd({"cmd": "cont"})
r = m.cmd({"cmd": "quit"})
check("quit", r.get("ok") is True, r)
rc = p.wait(timeout=30)
check("quit ends popek with status 14", rc == 14, rc)

# 2. a guest switched from the monitor runs to its normal end
p, m = start(["-e", "bt"], os.path.join(BUILD, "guests", "instructions.elf"))
r = m.cmd({"cmd": "switch-engine", "engine": "interp"})
ok = r.get("ok") is True
m.cmd({"cmd": "cont"})
time.sleep(0.01)
r = m.cmd({"cmd": "switch-engine", "engine": "bt"})
out, err = p.communicate(timeout=60)
want = open("tests/guests/instructions.expected", "rb").read() \
    if os.path.exists("tests/guests/instructions.expected") else None
check("a guest switched bt -> interp -> bt from the monitor passes",
      ok and p.returncode == 1 and (want is None or out == want),
      (p.returncode, err[-300:]))

# 3. --monitor stdio, behind Ctrl-A c
p = subprocess.Popen([POPEK, "run", "-e", "interp", "-k",
                      os.path.join(BUILD, "guests", "hello.elf"), "-S",
                      "--monitor", "stdio"], stdin=subprocess.PIPE,
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
out, err = p.communicate(b'\x01c{"cmd":"status"}\n{"cmd":"cont"}\n', timeout=30)
text = out.decode(errors="replace")
check("--monitor stdio answers after Ctrl-A c and the guest then runs",
      '"status":"paused"' in text and '"status":"running"' in text and
      "Hello from popek guest!" in text and p.returncode == 1,
      (p.returncode, text[-300:]))
sys.exit(1 if fails else 0)
