// A minimal Lambda runtime over TCP to $AWS_LAMBDA_RUNTIME_API (host:port), the interface both
// AWS's Runtime Interface Emulator (RIE) and Hearth give a function, so scripts/bench-warm-peers
// runs the same binary under each. The function echoes its event.
//
// Two styles, chosen at build time:
//   cc -static -O2 runtime-tcp.c                 one TCP connection per Runtime API call (each
//                                                /next and each /response connects, asks, closes),
//                                                as simple runtimes and curl-based ones do;
//   cc -static -O2 -DKEEPALIVE runtime-tcp.c     one keep-alive connection for every call, as
//                                                awslambdaric and the AWS runtime clients do.
//
// Static, libc only, no allocation.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

static struct sockaddr_in api;

static int connect_api(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&api, sizeof api) < 0) { close(fd); return -1; }
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
/// request id header into `id` when present.
static char *read_response(int fd, size_t *body_len, char *id, size_t id_size) {
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
    if (id) id[0] = '\0';
    static const char want[] = "Lambda-Runtime-Aws-Request-Id";
    for (char *line = strstr(buf, "\r\n") + 2; line < end; line = strstr(line, "\r\n") + 2) {
        char *colon = memchr(line, ':', (size_t)(end - line));
        if (!colon) break;
        char *v = colon + 1;
        while (*v == ' ') v++;
        size_t vlen = (size_t)(strstr(v, "\r\n") - v);
        if ((size_t)(colon - line) == 14 && strncasecmp(line, "Content-Length", 14) == 0) length = strtoul(v, NULL, 10);
        if (id && (size_t)(colon - line) == sizeof want - 1 && strncasecmp(line, want, sizeof want - 1) == 0 && vlen < id_size) {
            memcpy(id, v, vlen);
            id[vlen] = '\0';
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

int main(void) {
    const char *address = getenv("AWS_LAMBDA_RUNTIME_API");
    if (!address) { fprintf(stderr, "runtime-tcp: AWS_LAMBDA_RUNTIME_API is not set\n"); return 2; }
    char host[64];
    const char *colon = strrchr(address, ':');
    if (!colon || (size_t)(colon - address) >= sizeof host) { fprintf(stderr, "runtime-tcp: bad %s\n", address); return 2; }
    memcpy(host, address, (size_t)(colon - address));
    host[colon - address] = '\0';
    api.sin_family = AF_INET;
    api.sin_port = htons((uint16_t)atoi(colon + 1));
    if (inet_pton(AF_INET, host, &api.sin_addr) != 1) { fprintf(stderr, "runtime-tcp: bad host %s\n", host); return 2; }

    static const char next[] = "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: runtime\r\n\r\n";
    char id[256];
    int fd = -1;
    for (;;) {
        if (fd < 0 && (fd = connect_api()) < 0) { perror("runtime-tcp: connect"); return 1; }
        if (write_all(fd, next, sizeof next - 1) < 0) return 1;
        size_t len;
        char *body = read_response(fd, &len, id, sizeof id);
        if (!body || !id[0]) return 1;
        int n = snprintf(out, sizeof out,
                         "POST /2018-06-01/runtime/invocation/%s/response HTTP/1.1\r\nHost: runtime\r\n"
                         "Content-Length: %zu\r\n\r\n", id, len);
        if (n < 0 || (size_t)n + len > sizeof out) return 1;
        memcpy(out + n, body, len);
#ifndef KEEPALIVE
        close(fd);
        if ((fd = connect_api()) < 0) { perror("runtime-tcp: connect"); return 1; }
#endif
        if (write_all(fd, out, (size_t)n + len) < 0) return 1;
        if (!read_response(fd, &len, NULL, 0)) return 1;
#ifndef KEEPALIVE
        close(fd);
        fd = -1;
#endif
    }
}
