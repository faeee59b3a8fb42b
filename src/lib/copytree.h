/* copy in/out's tree stream, one format for both directions: the sending side walks a
 * tree (copy_pack) and the receiving side rebuilds it (copy_unpack). The host half runs
 * in a worker wardend forks, the container half in a child wshd forks inside the
 * container, as the container's user. Neither side ever follows a symbolic link inside
 * the tree it reads or writes, and the receiver trusts nothing of the stream: names are
 * checked component by component and every path is resolved with openat2
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS below the destination.
 *
 * Stream: records of a 32-byte header (big-endian)
 *     u8 type ('D' directory, 'F' file, 'L' symlink, 'Z' end), u8 pad[3],
 *     u32 mode (the 07777 bits), u64 size (file bytes, link target length),
 *     i64 mtime seconds, u32 mtime nanoseconds, u32 name length,
 * then the name (a relative path, "." for the root when SRC ends in '/'), then size
 * bytes of content or link target. Directories come before what they hold. Hard links
 * are sent as separate files; sockets, fifos and devices are skipped. */
#ifndef W_COPYTREE_H
#define W_COPYTREE_H

#include <stdint.h>
#include <sys/types.h>

#include "error.h"

#define COPY_HDR_LEN 32
#define COPY_NAME_MAX 4096
#define COPY_LINK_MAX 4096

struct copy_hdr {
    char type;
    uint32_t mode;
    uint64_t size;
    int64_t mtime_sec;
    uint32_t mtime_nsec;
    uint32_t name_len;
};

void copy_hdr_encode(const struct copy_hdr *h, unsigned char out[COPY_HDR_LEN]);
void copy_hdr_decode(const unsigned char in[COPY_HDR_LEN], struct copy_hdr *h);

/* Send the tree at src to out (a pipe or socket) and the end record. A trailing '/' on
 * src sends its contents (the root as "."), otherwise src itself under its base name;
 * src itself is followed only with the trailing '/'. Errors name the path; a write
 * error on out has err->errnum EPIPE when the receiver went away. */
int copy_pack(int out, const char *src, struct w_error *err);

struct copy_unpack_opts {
    int strip_suid; /* clear setuid/setgid bits (host side: the container is untrusted) */
    uid_t uid;      /* chown what is written to uid:gid, unless uid == (uid_t)-1 */
    gid_t gid;
};

/* Read a stream from in and build it at dst, rsync-like: a directory SRC, or SRC/
 * contents, land in dst (made with its missing parents); a single file or link lands
 * in dst when dst is an existing directory or ends in '/', else becomes dst. A
 * stream cut short is an error with err->errnum EPIPE. */
int copy_unpack(int in, const char *dst, const struct copy_unpack_opts *o, struct w_error *err);

/* The result of one half, reported on a status pipe by the container half: one line,
 * "ok", or "error " / "epipe " and the message ("epipe": it failed because the other
 * half went away, so the other half's error says why). */
enum { COPY_ST_NONE = -1, COPY_ST_OK = 0, COPY_ST_EPIPE = 1, COPY_ST_ERROR = 2 };
void copy_status_write(int fd, int rc, const struct w_error *err);
/* Read the status to EOF; msg gets the message. Returns a COPY_ST_ value. */
int copy_status_read(int fd, char *msg, size_t cap);

/* Helpers shared by both halves. */
int copy_read_full(int fd, void *buf, size_t len, struct w_error *err);
int copy_write_full(int fd, const void *buf, size_t len, struct w_error *err);

#endif
