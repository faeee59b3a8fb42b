/* `warden oci ARGS...` is `warden-oci ARGS...`: the OCI runtime front end is its own
 * program (src/oci/), found beside this one (installed), in the build tree's src/oci/,
 * or on PATH. */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

int cli_exec_oci(int argc, char **argv)
{
    char self[PATH_MAX], path[PATH_MAX + 32];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

    (void)argc;
    argv[0] = "warden-oci";
    if (n > 0) {
        self[n] = '\0';
        snprintf(path, sizeof(path), "%s/warden-oci", dirname(self));
        execv(path, argv);
        snprintf(path, sizeof(path), "%s/../oci/warden-oci", self);
        execv(path, argv);
    }
    execvp("warden-oci", argv);
    warden_complain("cannot run warden-oci: %s", strerror(errno));
    return EXIT_SYS;
}
