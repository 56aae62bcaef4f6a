// The static bootstrap scripts/bench-peers starts under every peer, so each row execs the
// same binary and the timed event is the same: the first thing the program says on a Unix
// socket.
//
// Peer mode (argv[1] = socket path): connect, send one byte, exit.
// Hearth mode (HEARTH_RUNTIME_SOCKET set): a minimal Lambda runtime on that socket: the first
// GET /next is the timed event; then every event is answered with itself (an echo function),
// so the same binary serves the warm rows too.
//
// Static, libc only, no allocation: built with `cc -static -O2`.
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int connect_unix(const char *path) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof addr.sun_path) { errno = ENAMETOOLONG; close(fd); return -1; }
    strcpy(addr.sun_path, path);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) { close(fd); return -1; }
    return fd;
}

static int write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static char buf[1 << 20];   // one HTTP response (headers + body)
static char out[1 << 20];   // one request

/// Reads one HTTP response into buf; returns the body (and its length) or NULL. Copies the
/// value of `want` (a header name) into `value` when present.
static char *read_response(int fd, size_t *body_len, const char *want, char *value, size_t value_size) {
    size_t have = 0;
    char *end = NULL;
    while (!(end = memmem(buf, have, "\r\n\r\n", 4))) {
        if (have == sizeof buf) return NULL;
        ssize_t r = read(fd, buf + have, sizeof buf - have);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return NULL;
        have += (size_t)r;
    }
    size_t head = (size_t)(end - buf) + 4, length = 0;
    if (value) value[0] = '\0';
    for (char *line = strstr(buf, "\r\n") + 2; line < end; line = strstr(line, "\r\n") + 2) {
        char *colon = memchr(line, ':', (size_t)(end - line));
        if (!colon) break;
        char *v = colon + 1;
        while (*v == ' ') v++;
        size_t vlen = (size_t)(strstr(v, "\r\n") - v);
        if ((size_t)(colon - line) == 14 && strncasecmp(line, "Content-Length", 14) == 0) length = strtoul(v, NULL, 10);
        if (want && value && (size_t)(colon - line) == strlen(want) && strncasecmp(line, want, strlen(want)) == 0
            && vlen < value_size) {
            memcpy(value, v, vlen);
            value[vlen] = '\0';
        }
    }
    if (head + length > sizeof buf) return NULL;
    while (have < head + length) {
        ssize_t r = read(fd, buf + have, head + length - have);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return NULL;
        have += (size_t)r;
    }
    *body_len = length;
    return buf + head;
}

static int runtime(const char *socket_path) {
    int fd = connect_unix(socket_path);
    if (fd < 0) { perror("bootstrap: connect to the runtime API"); return 1; }
    static const char next[] = "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: runtime\r\n\r\n";
    char id[256];
    for (;;) {
        if (write_all(fd, next, sizeof next - 1) < 0) return 1;
        size_t len;
        char *body = read_response(fd, &len, "Lambda-Runtime-Aws-Request-Id", id, sizeof id);
        if (!body || !id[0]) return 1;
        int n = snprintf(out, sizeof out,
                         "POST /2018-06-01/runtime/invocation/%s/response HTTP/1.1\r\nHost: runtime\r\n"
                         "Content-Length: %zu\r\n\r\n", id, len);
        if (n < 0 || (size_t)n + len > sizeof out) return 1;
        memcpy(out + n, body, len);
        if (write_all(fd, out, (size_t)n + len) < 0) return 1;
        if (!read_response(fd, &len, NULL, NULL, 0)) return 1;
    }
}

int main(int argc, char **argv) {
    const char *api = getenv("HEARTH_RUNTIME_SOCKET");
    if (api) return runtime(api);
    if (argc < 2) { fprintf(stderr, "usage: bootstrap SOCKET (or HEARTH_RUNTIME_SOCKET set)\n"); return 2; }
    int fd = connect_unix(argv[1]);
    if (fd < 0 || write_all(fd, "x", 1) < 0) { perror(argv[1]); return 1; }
    return 0;
}
