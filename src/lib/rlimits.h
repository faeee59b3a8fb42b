/* The rlimits a job or server.container_rlimits may set, by the names of the original
 * Warden (setrlimit's RLIMIT_ names in lower case, without the prefix). */
#ifndef W_RLIMITS_H
#define W_RLIMITS_H

/* RLIMIT_ resource of name, or -1 when it is not one of ours. */
int rlimits_resource(const char *name);

#endif
