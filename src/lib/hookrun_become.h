/* What a hook runner does once it has its request on stdin (src/lib/hookrun.c): read it,
 * export the hook's environment, set $0 and the arguments, and source the hook file
 * afresh (or exec it when its first line names no bash). Bash text, shared by the
 * runner's script and warden-builtins.so's zygote (zygote -c), which is not linked with
 * the rest of warden. */
#ifndef W_HOOKRUN_BECOME_H
#define W_HOOKRUN_BECOME_H

#define HOOKRUN_BECOME_HOOK                                                                        \
    "mapfile -d '' -t w_r\n"                                                                       \
    "if [[ ${w_r[0]-} == @* ]]; then mapfile -d '' -t w_r <\"${w_r[0]#@}\" || exit 111; fi\n"      \
    "((${#w_r[@]} >= 3)) || exit 0\n"                                                              \
    "exec </dev/null\n"                                                                            \
    "[[ -z ${w_r[1]} ]] || exec >>\"${w_r[1]}\"\n"                                                 \
    "BASH_ARGV0=${w_r[0]}\n"                                                                       \
    "w_n=${w_r[2]}\n"                                                                              \
    "set -- \"${w_r[@]:3:w_n}\"\n"                                                                 \
    "((${#w_r[@]} <= 3 + w_n)) || export \"${w_r[@]:3+w_n}\" 2>/dev/null || :\n"                   \
    "unset w_r w_n w_d\n"                                                                          \
    "w_l=\n"                                                                                       \
    "{ read -r w_l <\"$0\"; } 2>/dev/null || :\n"                                                  \
    "if [[ -x $0 && ($w_l == '#!/bin/bash' || $w_l == '#!/usr/bin/env bash') ]]; then\n"           \
    "\tunset w_l\n"                                                                                \
    "\t. \"$0\"\n"                                                                                 \
    "else\n"                                                                                       \
    "\tunset w_l\n"                                                                                \
    "\texec \"$0\" \"$@\"\n"                                                                       \
    "fi\n"

#endif
