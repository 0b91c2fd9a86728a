#!/usr/bin/env python3
"""The host's hands in tools/guest/lifecycle.sh: QEMU's QMP socket and
vringmedd's control socket, standard library only.

  lifecycle.py plan SEED CYCLES
      guest seconds the stop/cont cycles of SEED need (the guest's pause
      phase must outlast them)
  lifecycle.py pausecont QMP CTL SEED CYCLES [QUEUE]
      CYCLES times: let the VM run 0.3-0.8 s, QMP stop, 0.2-0.5 s stopped,
      QMP cont, then poll vringmedd's stats until queue QUEUE's used
      counter moves (default 1, a net device's TX; 0 for a blk device's
      requests: traffic flows again); prints each cycle and a summary
      line "pausecont cycles=N resume_ms_max=... resume_ms_p50=... ..."
  lifecycle.py qmp QMP COMMAND [ARGUMENTS-JSON]
      one QMP command (system_reset, quit, query-status ...)
  lifecycle.py wait-flow CTL SECONDS
      polls until the TX used counter moves; prints "flow_ms=N" or
      "flow_ms=none"; exit 1 when it did not move
  lifecycle.py device CTL
      vringmedd's view of its devices, one line each
  lifecycle.py migrate-start QMP URI
      QMP migrate to URI (a destination QEMU started with -incoming URI),
      held live: too little bandwidth and downtime allowed to finish, so
      the VM runs on with dirty logging on until migrate-finish
  lifecycle.py migrate-finish QMP
      lets it finish (bandwidth, downtime), then query-migrate until it
      ends; prints "migrate status=... total_ms=... downtime_ms=...";
      exit 0 only when it completed

SEED makes the cycle lengths repeatable, so a failing run can be run again
as it was.  Exit 0 only when everything asked for happened.
"""
import json
import random
import socket
import sys
import time

RESUME_WAIT = 3.0       # a resume slower than this is reported as never
QMP_TIMEOUT = 15.0      # stop waits for GET_VRING_BASE answers: a hung
                        # mediator shows as a stop that does not return


class QmpError(Exception):
    pass


class Qmp:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(QMP_TIMEOUT)
        self.sock.connect(path)
        self.file = self.sock.makefile("rwb")
        self._read()                    # the greeting
        self.execute("qmp_capabilities")

    def _read(self):
        line = self.file.readline()
        if not line:
            raise QmpError("QEMU closed the QMP socket")
        return json.loads(line)

    def execute(self, cmd, args=None):
        req = {"execute": cmd}
        if args:
            req["arguments"] = args
        self.file.write(json.dumps(req).encode() + b"\n")
        self.file.flush()
        while True:
            msg = self._read()
            if "event" in msg:          # STOP, RESUME, RESET ... not ours to wait for
                continue
            if "error" in msg:
                raise QmpError("%s: %s" % (cmd, msg["error"].get("desc", msg["error"])))
            return msg.get("return")

    def close(self):
        self.sock.close()


def control(path, line):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(2.0)
    s.connect(path)
    s.sendall(line.encode() + b"\n")
    data = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
    s.close()
    return json.loads(data)


def used(ctl, queue=1):
    """The used counters of queue `queue` and every second ring after it,
    of each device (1: a net device's transmit rings, one per queue pair;
    0: a blk device's requests): the entries the daemon gave back to the
    guest, so it moves only while frames or requests flow."""
    try:
        return sum(q["used"] for q in control(ctl, "stats")
                   if q["queue"] >= queue and (q["queue"] - queue) % 2 == 0)
    except (OSError, ValueError):
        return None


def wait_flow(ctl, limit, queue=1):
    """Seconds until the used counter moves, None if not within limit."""
    t0 = time.monotonic()
    first = used(ctl, queue)
    while time.monotonic() - t0 < limit:
        now = used(ctl, queue)
        if first is None:
            first = now
        elif now is not None and now != first:
            return time.monotonic() - t0
        time.sleep(0.005)
    return None


def cycles_of(seed, n):
    rng = random.Random(seed)
    return [(rng.uniform(0.3, 0.8), rng.uniform(0.2, 0.5)) for _ in range(n)]


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def cmd_pausecont(qmp_path, ctl, seed, n, queue=1):
    qmp = Qmp(qmp_path)
    resumes, stops, never = [], [], 0
    done, broken = 0, None
    try:
        for i, (run, stopped) in enumerate(cycles_of(seed, n), 1):
            time.sleep(run)
            t0 = time.monotonic()
            qmp.execute("stop")
            stop_s = time.monotonic() - t0
            stops.append(stop_s)
            time.sleep(stopped)
            qmp.execute("cont")
            flow = wait_flow(ctl, RESUME_WAIT, queue)
            done = i
            if flow is None:
                never += 1
                print("  cycle %2d: ran %.2f s, stop took %d ms, stopped %.2f s, "
                      "traffic did not flow again within %.0f s"
                      % (i, run, stop_s * 1000, stopped, RESUME_WAIT), flush=True)
                if never >= 3:
                    print("  three resumes without traffic: the device is gone, "
                          "no more cycles", flush=True)
                    break
                continue
            resumes.append(flow)
            print("  cycle %2d: ran %.2f s, stop took %d ms, stopped %.2f s, flowing again after %d ms"
                  % (i, run, stop_s * 1000, stopped, flow * 1000), flush=True)
    except (QmpError, OSError) as e:
        broken = "QMP: %s" % e
        print("  cycle %d: %s" % (done + 1, broken), flush=True)
        # Not left stopped: the guest's plan (and the host's next steps)
        # go on whatever happened here.
        try:
            qmp.execute("cont")
        except (QmpError, OSError):
            pass
    finally:
        qmp.close()
    over = sum(1 for r in resumes if r > 1.0)
    print("pausecont cycles=%d/%d resume_ms_max=%s resume_ms_p50=%s over_1s=%d never=%d stop_ms_max=%s%s"
          % (done, n, "%d" % (max(resumes) * 1000) if resumes else "none",
             "%d" % (pct(resumes, 50) * 1000) if resumes else "none", over, never,
             "%d" % (max(stops) * 1000) if stops else "none",
             " aborted=%s" % broken.replace(" ", "_") if broken else ""))
    return 0 if done == n and not never and not over and not broken else 1


def cmd_device(ctl):
    for d in control(ctl, "device list"):
        print("%s state=%s virtio=%s byte_order=%s sessions=%s teardowns=%s starts=%s kick_path=%s last_error=%s"
              % (d.get("name"), d.get("state"), d.get("virtio"), d.get("byte_order"),
                 d.get("sessions"), d.get("teardowns"), d.get("starts", "?"), d.get("kick_path", "?"),
                 d.get("last_error") or "none"))
    # Event idx: the tick's rescues per queue (a guest that lost its race).
    resc = ["q%d=%d" % (q["queue"], q["event_idx_rescues"])
            for q in control(ctl, "stats") if "event_idx_rescues" in q]
    if resc:
        print("  event idx rescues: %s" % " ".join(resc))
    print("  used per ring: %s" % " ".join("q%d=%d" % (q["queue"], q["used"])
                                          for q in control(ctl, "stats")))
    return 0


MIGRATE_LIMIT = 120.0   # seconds a live migration may take under TCG
# 1 MiB/s: the guest's tens of MiB take longer than any phase, so the
# first pass cannot end, and with it the migration, before FINISH.
HOLD = {"max-bandwidth": 1 << 20, "downtime-limit": 300}
FINISH = {"max-bandwidth": 4 << 30, "downtime-limit": 500}


def cmd_migrate_start(qmp_path, uri):
    qmp = Qmp(qmp_path)
    try:
        qmp.execute("migrate-set-parameters", HOLD)
        qmp.execute("migrate", {"uri": uri})
    finally:
        qmp.close()
    return 0


def cmd_migrate_finish(qmp_path):
    qmp = Qmp(qmp_path)
    try:
        qmp.execute("migrate-set-parameters", FINISH)
        t0, info = time.monotonic(), {}
        while time.monotonic() - t0 < MIGRATE_LIMIT:
            info = qmp.execute("query-migrate") or {}
            if info.get("status") in ("completed", "failed", "cancelled"):
                break
            time.sleep(0.05)
    finally:
        qmp.close()
    print("migrate status=%s total_ms=%s downtime_ms=%s setup_ms=%s ram_mb=%s%s"
          % (info.get("status", "none"), info.get("total-time", "?"), info.get("downtime", "?"),
             info.get("setup-time", "?"), (info.get("ram") or {}).get("transferred", 0) >> 20,
             " error=%s" % info["error-desc"].replace(" ", "_") if "error-desc" in info else ""))
    return 0 if info.get("status") == "completed" else 1


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if len(argv) >= 2 else 2
    cmd, args = argv[1], argv[2:]
    try:
        if cmd == "plan" and len(args) == 2:
            print("%.1f" % sum(r for r, _ in cycles_of(int(args[0]), int(args[1]))))
            return 0
        if cmd == "pausecont" and len(args) in (4, 5):
            return cmd_pausecont(args[0], args[1], int(args[2]), int(args[3]),
                                 int(args[4]) if len(args) == 5 else 1)
        if cmd == "qmp" and len(args) in (2, 3):
            q = Qmp(args[0])
            try:
                print(json.dumps(q.execute(args[1], json.loads(args[2]) if len(args) == 3 else None)))
            finally:
                q.close()
            return 0
        if cmd == "wait-flow" and len(args) == 2:
            flow = wait_flow(args[0], float(args[1]))
            print("flow_ms=%s" % ("none" if flow is None else "%d" % (flow * 1000)))
            return 0 if flow is not None else 1
        if cmd == "device" and len(args) == 1:
            return cmd_device(args[0])
        if cmd == "migrate-start" and len(args) == 2:
            return cmd_migrate_start(args[0], args[1])
        if cmd == "migrate-finish" and len(args) == 1:
            return cmd_migrate_finish(args[0])
    except (QmpError, OSError, ValueError) as e:
        print("lifecycle.py %s: %s" % (cmd, e), file=sys.stderr)
        return 1
    print("lifecycle.py: unknown command or arguments (see --help)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
