/* The interactive prompt: reads lines from stdin (a terminal or not), splits them like a
 * shell (quotes, backslashes) and runs each as a warden command on one persistent
 * connection, reconnecting when the server closed it. History is kept in
 * ~/.warden_history when stdin is a terminal (plain line reader: no readline dependency). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"

#define MAX_WORDS 256

/* Split line in place into words; returns the count, or -1 with *why set. */
static int split_words(char *line, char **words, const char **why)
{
    char *in = line, *out = line;
    int n = 0;

    for (;;) {
        while (*in == ' ' || *in == '\t' || *in == '\n' || *in == '\r')
            in++;
        if (*in == '\0' || *in == '#')
            return n;
        if (n == MAX_WORDS) {
            *why = "too many words";
            return -1;
        }
        words[n++] = out;
        char quote = 0;
        for (; *in != '\0'; in++) {
            if (quote == 0 && (*in == ' ' || *in == '\t' || *in == '\n' || *in == '\r'))
                break;
            if (quote == 0 && (*in == '\'' || *in == '"')) {
                quote = *in;
            } else if (quote != 0 && *in == quote) {
                quote = 0;
            } else if (*in == '\\' && quote != '\'' && in[1] != '\0') {
                in++;
                if (*in == 'n' && quote == '"')
                    *out++ = '\n';
                else
                    *out++ = *in;
            } else {
                *out++ = *in;
            }
        }
        if (quote != 0) {
            *why = "unterminated quote";
            return -1;
        }
        if (*in != '\0')
            in++;
        *out++ = '\0';
    }
}

static FILE *open_history(void)
{
    const char *home = getenv("HOME");
    char path[4096];

    if (home == NULL || *home == '\0')
        return NULL;
    snprintf(path, sizeof(path), "%s/.warden_history", home);
    return fopen(path, "ae");
}

int repl_run(struct client *c)
{
    int tty = isatty(STDIN_FILENO);
    FILE *hist = tty ? open_history() : NULL;
    char *line = NULL;
    size_t cap = 0;
    int status = 0;

    if (tty)
        puts("warden: type `help` for commands, `quit` or EOF to leave");
    for (;;) {
        char *words[MAX_WORDS + 1];
        const char *why = NULL;
        int n;

        if (tty) {
            fputs("warden> ", stdout);
            fflush(stdout);
        }
        if (getline(&line, &cap, stdin) < 0)
            break;
        if (hist != NULL && line[0] != '\n') {
            fputs(line, hist);
            fflush(hist);
        }
        if ((n = split_words(line, words, &why)) < 0) {
            warden_complain("%s", why);
            status = EXIT_USAGE;
            continue;
        }
        if (n == 0)
            continue;
        words[n] = NULL;
        if (strcmp(words[0], "quit") == 0 || strcmp(words[0], "exit") == 0)
            break;
        status = warden_command(c, n, words);
        fflush(stdout);
    }
    if (tty)
        putchar('\n');
    free(line);
    if (hist != NULL)
        fclose(hist);
    return status;
}
