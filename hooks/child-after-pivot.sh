#!/bin/sh
# The container's child, after pivot_root: run by wshd as
# `/bin/sh -c "<this file>" child-after-pivot.sh` with the container's own tools
# (POSIX sh, busybox at least), once the old root is unmounted and the capability
# bounding set is the container's: the rootfs's shell never sees the host.
#
# Shipped without a command: a file of nothing but comments and blank lines is not run
# at all (no container shell is started: that would cost each create about 1 ms), so
# this hook costs nothing until you add a line below. What it used to do, a /tmp for a
# rootfs without one, child-before-pivot.sh does. Keep it tiny: it is on every
# create's path. For example:
#   [ -e /etc/motd ] || echo "welcome" >/etc/motd
