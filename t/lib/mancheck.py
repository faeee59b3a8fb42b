#!/usr/bin/env python3
"""mancheck.py PAGE SECTION [--tags] [--default] WORD...

Renders the man page PAGE with groff (plain ASCII, no hyphenation, long lines) and
checks that every WORD appears in section SECTION (a heading such as OPTIONS; "ALL"
for the whole page) as a whole token (not as part of a longer option or key).
--tags: as a .TP tag (indented by 7 spaces, its body by 14), not in running text.
--default: WORD is KEY=VALUE; KEY must be a tag whose entry says "Default:" and shows
VALUE there. Prints what is missing and exits 1 if anything is; t/81-manpages.bats
feeds it the real --help output and the real config keys."""
import re
import subprocess
import sys


def render(page):
    out = subprocess.run(["groff", "-man", "-Tascii", "-P", "-cbou", "-rLL=1000n", "-rHY=0",
                          page], check=True, capture_output=True, text=True).stdout
    return out.splitlines()


def section(lines, name):
    if name == "ALL":
        return lines
    got, inside = [], False
    for l in lines:
        if l and not l[0].isspace():
            inside = l.strip() == name
            continue
        if inside:
            got.append(l)
    if not got:
        sys.exit("mancheck: no section %s" % name)
    return got


def token(word):
    return re.compile(r"(?<![\w.-])" + re.escape(word) + r"(?![\w-])")


def tag_of(lines, i):
    """The tag of a .TP entry at line i, or None. The tag is indented by 7 and the body
    by 14: on the next line, or on the same line when the tag fits in 6 columns."""
    l = lines[i]
    if re.match(r"^ {7}\S", l) is None:
        return None
    if i + 1 < len(lines) and re.match(r"^ {14}", lines[i + 1]):
        return l.strip()
    if len(l) > 14 and l[13] == " " and l[14] != " ":
        return l[7:13].strip()
    return None


def entry(lines, key):
    """The body of the .TP entry whose tag is key, or None."""
    rx = token(key)
    for i, l in enumerate(lines):
        tag = tag_of(lines, i)
        if tag is not None and rx.search(tag):
            body = [l[14:]] if len(tag) <= 6 else []
            for m in lines[i + 1:]:
                if re.match(r"^ {7}\S", m):
                    break
                body.append(m)
            return " ".join(body)
    return None


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    page, name, words = argv[0], argv[1], argv[2:]
    tags = default = False
    while words and words[0] in ("--tags", "--default"):
        tags |= words[0] == "--tags"
        default |= words[0] == "--default"
        words = words[1:]
    lines = section(render(page), name)
    missing = []
    for w in words:
        if default:
            key, _, value = w.partition("=")
            body = entry(lines, key)
            if body is None:
                missing.append("%s (no entry)" % key)
            elif "Default:" not in body:
                missing.append("%s (entry without Default:)" % key)
            elif not token(value).search(body.split("Default:", 1)[1][:400]):
                missing.append("%s (default %s not shown)" % (key, value))
            continue
        rx = token(w)
        pool = [t for t in (tag_of(lines, i) for i in range(len(lines))) if t] if tags else lines
        if not any(rx.search(l) for l in pool):
            missing.append(w)
    for m in missing:
        print("%s: section %s lacks %s" % (page, name, m))
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
