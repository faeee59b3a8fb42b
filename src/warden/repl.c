/* The interactive prompt: reads lines from stdin, splits them like a shell (quotes,
 * backslashes) and runs each as a warden command on one persistent connection,
 * reconnecting when the server closed it. On a terminal lines are read with libedit
 * (arrow keys, emacs/vi editing per ~/.editrc, "warden" as its program name), history
 * is kept across runs in ~/.warden_history (plain lines), and tab completes command
 * names, their options, limit/net/copy keywords and the handles the server lists right
 * now. Not on a terminal: plain lines, no prompt, no history. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <editline/readline.h>

#include "cli.h"
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

#define HISTORY_MAX 1000

static int history_path(char *path, size_t size)
{
    const char *home = getenv("HOME");

    if (home == NULL || *home == '\0')
        return -1;
    return snprintf(path, size, "%s/.warden_history", home) < (int)size ? 0 : -1;
}

/* Load the last HISTORY_MAX lines of the history file into libedit; returns the file
 * opened for appending (NULL without a home or when it cannot be opened). */
static FILE *open_history(void)
{
    char path[4096], *line = NULL;
    size_t cap = 0;
    ssize_t n;
    FILE *f;

    if (history_path(path, sizeof(path)) < 0)
        return NULL;
    stifle_history(HISTORY_MAX);
    if ((f = fopen(path, "re")) != NULL) {
        while ((n = getline(&line, &cap, f)) > 0) {
            if (line[n - 1] == '\n')
                line[--n] = '\0';
            if (n > 0)
                add_history(line);
        }
        free(line);
        fclose(f);
    }
    return fopen(path, "ae");
}

/* ---- tab completion (libedit calls these from inside readline) ---- */

static struct client *comp_client; /* the prompt's connection */
static char **comp_words;          /* candidates of the completion in progress */
static size_t comp_n, comp_cap;

static void comp_add(const char *w)
{
    char *d;

    for (size_t i = 0; i < comp_n; i++)
        if (strcmp(comp_words[i], w) == 0)
            return;
    if (comp_n == comp_cap) {
        size_t cap = comp_cap ? comp_cap * 2 : 32;
        char **p = realloc(comp_words, cap * sizeof(*p));
        if (p == NULL)
            return;
        comp_words = p;
        comp_cap = cap;
    }
    if ((d = strdup(w)) != NULL)
        comp_words[comp_n++] = d;
}

static void comp_clear(void)
{
    for (size_t i = 0; i < comp_n; i++)
        free(comp_words[i]);
    comp_n = 0;
}

/* Every --option spelled in text (a command's usage). */
static void comp_add_options(const char *text)
{
    for (const char *p = text; (p = strstr(p, "--")) != NULL;) {
        size_t n = 2 + strspn(p + 2, "abcdefghijklmnopqrstuvwxyz0123456789-");
        char opt[64];
        if (n > 2 && n < sizeof(opt)) {
            memcpy(opt, p, n);
            opt[n] = '\0';
            comp_add(opt);
        }
        p += n;
    }
}

/* The handles the server lists now; nothing (and no message) when it does not answer. */
static void comp_add_handles(void)
{
    struct json_object *req = cli_request("list"), *reply, *payload;
    struct w_error err;

    if (client_send(comp_client, req, &err) == 0 &&
        (reply = client_recv(comp_client, &err)) != NULL) {
        if (client_reply(reply, &payload, &err) == 0 &&
            json_object_is_type(payload, json_type_array))
            for (size_t i = 0; i < json_object_array_length(payload); i++) {
                const char *h = json_object_get_string(json_object_array_get_idx(payload, i));
                if (h != NULL)
                    comp_add(h);
            }
        json_object_put(reply);
    }
    json_object_put(req);
}

static char *comp_next(const char *text, int state)
{
    static size_t i;
    size_t len = strlen(text);

    if (state == 0)
        i = 0;
    while (i < comp_n) {
        const char *w = comp_words[i++];
        if (strncmp(w, text, len) == 0)
            return strdup(w);
    }
    return NULL;
}

/* Called by libedit on tab: the word being completed is line[start, end). */
static char **complete(const char *text, int start, int end)
{
    char first[64] = "";
    const char *usage;
    int nword = 0;

    (void)end;
    comp_clear();
    /* Which word is this, and what is the first (the command)? */
    for (int i = 0; i < start;) {
        int j;
        while (i < start && (rl_line_buffer[i] == ' ' || rl_line_buffer[i] == '\t'))
            i++;
        if (i >= start)
            break;
        for (j = i; j < start && rl_line_buffer[j] != ' ' && rl_line_buffer[j] != '\t'; j++)
            ;
        if (nword == 0 && (size_t)(j - i) < sizeof(first)) {
            memcpy(first, rl_line_buffer + i, (size_t)(j - i));
            first[j - i] = '\0';
        }
        if (rl_line_buffer[i] != '-' || nword == 0)
            nword++;
        i = j;
    }
    usage = cli_find_cmd(first) ? cli_cmd_usage(cli_find_cmd(first)) : NULL;
    rl_attempted_completion_over = 1; /* never fall back to file names, except below */
    if (nword == 0 || (nword == 1 && strcmp(first, "help") == 0)) {
        for (size_t k = 0; cli_cmd_at(k) != NULL; k++)
            comp_add(cli_cmd_name(cli_cmd_at(k)));
        if (nword == 0) {
            comp_add("quit");
            comp_add("exit");
        }
    } else if (usage == NULL) {
        return NULL;
    } else if (text[0] == '-') {
        comp_add_options(usage);
        comp_add("--help");
    } else if (nword == 1 && strncmp(usage, "HANDLE", 6) == 0) {
        comp_add_handles();
    } else if (nword == 2 && strcmp(first, "limit") == 0) {
        for (const char *const *k =
                 (const char *const[]){"mem", "disk", "cpu", "cpuset", "bandwidth", NULL};
             *k; k++)
            comp_add(*k);
    } else if (nword == 2 && (strcmp(first, "net") == 0 || strcmp(first, "copy") == 0)) {
        comp_add("in");
        comp_add("out");
    } else if (nword >= 3 && strcmp(first, "copy") == 0) {
        rl_attempted_completion_over = 0; /* SRC and DST: file names */
        return NULL;
    }
    return comp_n ? rl_completion_matches(text, comp_next) : NULL;
}

/* ---- the loop ---- */

/* The next line without its newline (malloc'd), or NULL at end of input. */
static char *next_line(int tty, char **buf, size_t *cap)
{
    ssize_t n;

    if (tty)
        return readline("warden> ");
    if ((n = getline(buf, cap, stdin)) < 0)
        return NULL;
    if (n > 0 && (*buf)[n - 1] == '\n')
        (*buf)[n - 1] = '\0';
    return strdup(*buf);
}

int repl_run(struct client *c)
{
    int tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
    FILE *hist = NULL;
    char *buf = NULL, *line;
    size_t cap = 0;
    int status = 0;

    if (tty) {
        rl_readline_name = "warden";
        rl_attempted_completion_function = complete;
        comp_client = c;
        hist = open_history();
        puts("warden: type `help` for commands, `quit` or EOF to leave; tab completes");
    }
    while ((line = next_line(tty, &buf, &cap)) != NULL) {
        char *words[MAX_WORDS + 1];
        const char *why = NULL;
        int n;

        if (tty && line[strspn(line, " \t")] != '\0') {
            add_history(line);
            if (hist != NULL) {
                fprintf(hist, "%s\n", line);
                fflush(hist);
            }
        }
        if ((n = split_words(line, words, &why)) < 0) {
            warden_complain("%s", why);
            status = EXIT_USAGE;
            free(line);
            continue;
        }
        words[n] = NULL;
        if (n > 0 && (strcmp(words[0], "quit") == 0 || strcmp(words[0], "exit") == 0)) {
            free(line);
            break;
        }
        if (n > 0)
            status = warden_command(c, n, words);
        fflush(stdout);
        free(line);
    }
    if (tty)
        putchar('\n');
    free(buf);
    comp_clear();
    free(comp_words);
    comp_words = NULL;
    comp_cap = 0;
    if (hist != NULL)
        fclose(hist);
    return status;
}
