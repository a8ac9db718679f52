"""A small Python program that exercises what real Python services use: json, hashlib,
sqlite3 (in memory and in a file under /tmp), threads with a Lock and a queue.Queue, and a
child process. Every line it prints is deterministic; it exits with code 3."""
import hashlib
import json
import os
import queue
import sqlite3
import subprocess
import sys
import threading


def main() -> int:
    doc = {"name": "litebox", "items": [3, 1, 2], "nested": {"ok": True}}
    text = json.dumps(doc, sort_keys=True)
    print("json:", text)
    print("json round trip:", json.loads(text) == doc)

    print("sha256:", hashlib.sha256(b"litebox").hexdigest())
    print("md5:", hashlib.md5(b"litebox").hexdigest())

    mem = sqlite3.connect(":memory:")
    mem.execute("create table t (k text primary key, v integer)")
    mem.executemany("insert into t values (?, ?)", [("a", 1), ("b", 2), ("c", 3)])
    print("sqlite memory sum:", mem.execute("select sum(v) from t").fetchone()[0])
    mem.close()

    if os.path.exists("/tmp/app.db"):
        os.remove("/tmp/app.db")  # a fresh file each run, also when run natively
    disk = sqlite3.connect("/tmp/app.db")
    disk.execute("create table log (n integer)")
    disk.executemany("insert into log values (?)", [(i,) for i in range(100)])
    disk.commit()
    disk.close()
    again = sqlite3.connect("/tmp/app.db")
    print("sqlite file rows:", again.execute("select count(*), sum(n) from log").fetchone())
    again.close()

    jobs: queue.Queue[int | None] = queue.Queue()
    results: queue.Queue[tuple[int, int]] = queue.Queue()
    lock = threading.Lock()
    counter = [0]

    def worker() -> None:
        while True:
            n = jobs.get()
            if n is None:
                return
            with lock:
                counter[0] += n
            results.put((n, n * n))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for n in range(1, 21):
        jobs.put(n)
    for _ in threads:
        jobs.put(None)
    for t in threads:
        t.join()
    squares = sorted(results.get() for _ in range(20))
    print("threads:", len(threads), "counter:", counter[0], "sum of squares:", sum(s for _, s in squares))

    child = subprocess.run([sys.executable, "-c", "print('child ok')"], capture_output=True, text=True)
    print("subprocess:", child.stdout.strip(), "exit", child.returncode)

    print("done")
    return 3


if __name__ == "__main__":
    sys.exit(main())
