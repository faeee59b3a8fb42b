#!/usr/bin/env python3
"""`warden contain -- /bin/true` end to end (create, exec through wshd, destroy), N runs."""
import subprocess
import sys
import time

from wclient import fmt, percentiles

warden, sock, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 30
t = []
for _ in range(runs):
    t0 = time.perf_counter()
    subprocess.run([warden, "-s", sock, "contain", "--", "/bin/true"], check=True)
    t.append((time.perf_counter() - t0) * 1000)
print(fmt("warden contain -- /bin/true", percentiles(t)))
