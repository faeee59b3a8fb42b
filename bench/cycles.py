#!/usr/bin/env python3
"""cycles.py SOCK N [run]: N cycles of create and destroy (with "run": create, run true,
destroy) on one daemon, timing nothing: for a whole-process timer pairing two daemons
(bench/ab's AB_RUN)."""
import sys

from wclient import Client

c, n = Client(sys.argv[1]), int(sys.argv[2])
run = len(sys.argv) > 3 and sys.argv[3] == "run"
for _ in range(n):
    h = c.call("create")
    if run:
        st, out, err = c.call("run", h, "true")
        assert st == 0, (st, out, err)
    c.call("destroy", h)
