/*
 * hearth-fidelity - a Lambda custom runtime written the way many minimal runtimes are:
 * one connection per request, `Connection: close` (or HTTP/1.0 with FIDELITY_HTTP10=1),
 * and every answer read to end-of-file, without looking at Content-Length. A server that
 * keeps such a connection open leaves this runtime waiting forever.
 *
 * Transport: HEARTH_RUNTIME_SOCKET (Unix socket) unless FIDELITY_USE_TCP=1, then
 * AWS_LAMBDA_RUNTIME_API (127.0.0.1:9001 in the sandbox).
 *
 * The event may ask for more than an echo (plain substring matching, numbers only):
 *   "before":1          print "before-response <request id>" to stdout before responding
 *   "after_ms":N        after /response, print "after-start", work N ms, print "after-done"
 *   "exit_after":C      after /response (and after_ms), exit(C) instead of asking for /next
 *   "ctype":1           respond with Content-Type: text/plain; charset=utf-8
 *   "stream":N          stream N chunks ("chunk-i\n"), "gap_ms":G apart (response mode streaming)
 *   "stream_error":1    after the chunks, end the stream with an error in trailers
 *   "stream_kb":K       stream K KiB of 'x' in 64 KiB chunks (response mode streaming)
 * An HTTP trigger's event whose rawPath is /http-stream/N/G[/fail] streams N chunks G ms apart
 * as awslambda.HttpResponseStream does: Content-Type application/vnd.awslambda.http-integration-
 * response, the prelude {"statusCode":201,"headers":{...},"cookies":[...]}, 8 NUL bytes, the body
 * (and with /fail, the error trailers after the chunks).
 *   "spin_ms":N         before responding, spin N ms of wall time; print "invoke-cpu-ms <CPU ms it got>"
 * FIDELITY_INIT_SPIN_MS=N spins N ms of wall time during init and prints "init-cpu-ms <CPU ms>".
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int http10;

static void die(const char *what) {
    fprintf(stderr, "fidelity: %s: %s\n", what, strerror(errno));
    exit(70);
}

static int dial(void) {
    const char *sock = getenv("HEARTH_RUNTIME_SOCKET");
    const char *tcp = getenv("FIDELITY_USE_TCP");
    if (sock && *sock && !(tcp && *tcp == '1')) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) die("connect unix");
        return fd;
    }
    const char *api = getenv("AWS_LAMBDA_RUNTIME_API");
    if (!api) die("AWS_LAMBDA_RUNTIME_API");
    char host[64];
    snprintf(host, sizeof host, "%s", api);
    char *colon = strrchr(host, ':');
    if (!colon) die("AWS_LAMBDA_RUNTIME_API format");
    *colon = '\0';
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(colon + 1))};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) die("AWS_LAMBDA_RUNTIME_API address");
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) die("connect tcp");
    return fd;
}

static void send_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) die("send");
        p += w;
        n -= (size_t)w;
    }
}

/* Reads until the server closes the connection. */
static char *read_to_eof(int fd, size_t *len) {
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf) die("malloc");
    for (;;) {
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
            if (!buf) die("realloc");
        }
        ssize_t r = recv(fd, buf + n, cap - n, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) die("recv");
        if (r == 0) break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static const char *version(void) { return http10 ? "HTTP/1.0" : "HTTP/1.1"; }
static const char *closing(void) { return http10 ? "" : "Connection: close\r\n"; }

/* One request on a fresh connection; returns the whole answer (head and body). */
static char *request(const char *method, const char *path, const char *headers, const char *body, size_t blen, size_t *len) {
    int fd = dial();
    char head[1024];
    int h = snprintf(head, sizeof head, "%s %s %s\r\nHost: localhost\r\n%s%sContent-Length: %zu\r\n\r\n",
                     method, path, version(), closing(), headers, blen);
    send_all(fd, head, (size_t)h);
    if (blen) send_all(fd, body, blen);
    char *answer = read_to_eof(fd, len);
    close(fd);
    return answer;
}

static long number(const char *event, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(event, pat);
    if (p) return strtol(p + strlen(pat), NULL, 10);
    /* The same key in a JSON string inside the event (an HTTP request's body): \"key\": */
    snprintf(pat, sizeof pat, "\\\"%s\\\":", key);
    p = strstr(event, pat);
    return p ? strtol(p + strlen(pat), NULL, 10) : 0;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {}
}

/* Spins for `ms` of wall time; returns the CPU milliseconds the process got meanwhile. */
static long spin(long ms) {
    struct timespec w0, w, c0, c;
    clock_gettime(CLOCK_MONOTONIC, &w0);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
    do {
        clock_gettime(CLOCK_MONOTONIC, &w);
    } while ((w.tv_sec - w0.tv_sec) * 1000 + (w.tv_nsec - w0.tv_nsec) / 1000000 < ms);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c);
    return (c.tv_sec - c0.tv_sec) * 1000 + (c.tv_nsec - c0.tv_nsec) / 1000000;
}

static void stream(const char *id, long chunks, long gap, int fail, long kb, int http) {
    int fd = dial();
    char head[1024];
    int h = snprintf(head, sizeof head,
                     "POST /2018-06-01/runtime/invocation/%s/response HTTP/1.1\r\nHost: localhost\r\n%s"
                     "Lambda-Runtime-Function-Response-Mode: streaming\r\nTransfer-Encoding: chunked\r\n"
                     "Content-Type: %s\r\n%s\r\n",
                     id, closing(), http ? "application/vnd.awslambda.http-integration-response" : "text/plain",
                     fail ? "Trailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body\r\n" : "");
    send_all(fd, head, (size_t)h);
    if (http) {
        static const char prelude[] = "{\"statusCode\":201,\"headers\":{\"Content-Type\":\"text/plain\",\"X-Streamed\":\"yes\"},"
                                      "\"cookies\":[\"a=1; Path=/\",\"b=2\"]}";
        char frame[32];
        size_t n = sizeof prelude - 1 + 8;
        int fn = snprintf(frame, sizeof frame, "%zx\r\n", n);
        send_all(fd, frame, (size_t)fn);
        send_all(fd, prelude, sizeof prelude - 1);
        send_all(fd, "\0\0\0\0\0\0\0\0\r\n", 10);
    }
    if (kb > 0) {
        static char block[65536];
        memset(block, 'x', sizeof block);
        for (long left = kb * 1024; left > 0;) {
            size_t n = left < (long)sizeof block ? (size_t)left : sizeof block;
            char frame[32];
            int fn = snprintf(frame, sizeof frame, "%zx\r\n", n);
            send_all(fd, frame, (size_t)fn);
            send_all(fd, block, n);
            send_all(fd, "\r\n", 2);
            left -= (long)n;
        }
    }
    for (long i = 0; i < chunks; i++) {
        if (i > 0) sleep_ms(gap);
        char piece[64], frame[96];
        int pn = snprintf(piece, sizeof piece, "chunk-%ld\n", i);
        int fn = snprintf(frame, sizeof frame, "%x\r\n%s\r\n", pn, piece);
        send_all(fd, frame, (size_t)fn);
    }
    if (fail) {
        /* base64 of {"errorMessage":"broke midway","errorType":"Fidelity.StreamError"} */
        const char *t = "0\r\nLambda-Runtime-Function-Error-Type: Fidelity.StreamError\r\n"
                        "Lambda-Runtime-Function-Error-Body: eyJlcnJvck1lc3NhZ2UiOiJicm9rZSBtaWR3YXkiLCJlcnJvclR5cGUiOiJGaWRlbGl0eS5TdHJlYW1FcnJvciJ9\r\n\r\n";
        send_all(fd, t, strlen(t));
    } else {
        send_all(fd, "0\r\n\r\n", 5);
    }
    size_t n;
    free(read_to_eof(fd, &n));
    close(fd);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *v = getenv("FIDELITY_HTTP10");
    http10 = v && *v == '1';
    printf("fidelity-init\n"); /* init output: must come after INIT_START, before START */
    const char *init_spin = getenv("FIDELITY_INIT_SPIN_MS");
    if (init_spin && atol(init_spin) > 0) printf("init-cpu-ms %ld\n", spin(atol(init_spin)));
    for (;;) {
        size_t len;
        char *next = request("GET", "/2018-06-01/runtime/invocation/next", "", NULL, 0, &len);
        char *split = strstr(next, "\r\n\r\n");
        if (!split) die("no end of head in /next answer");
        *split = '\0';
        const char *event = split + 4;
        size_t event_len = len - (size_t)(event - next);
        char id[256] = "";
        const char *idh = strcasestr(next, "\nLambda-Runtime-Aws-Request-Id:");
        if (!idh) {
            fprintf(stderr, "fidelity: no request id in: %s\n", next);
            exit(71);
        }
        sscanf(idh + strlen("\nLambda-Runtime-Aws-Request-Id:"), " %255[^\r\n]", id);

        if (number(event, "before")) printf("before-response %s\n", id);
        if (number(event, "spin_ms") > 0) printf("invoke-cpu-ms %ld\n", spin(number(event, "spin_ms")));
        long chunks = number(event, "stream"), kb = number(event, "stream_kb");
        const char *http = strstr(event, "\"rawPath\":\"/http-stream/");
        if (http) {
            char *rest;
            long n = strtol(http + strlen("\"rawPath\":\"/http-stream/"), &rest, 10);
            long gap = *rest == '/' ? strtol(rest + 1, &rest, 10) : 0;
            stream(id, n, gap, strncmp(rest, "/fail", 5) == 0, 0, 1);
        } else if (chunks > 0 || kb > 0) {
            stream(id, chunks, number(event, "gap_ms"), number(event, "stream_error") != 0, kb, 0);
        } else {
            char path[512];
            snprintf(path, sizeof path, "/2018-06-01/runtime/invocation/%s/response", id);
            const char *ctype = number(event, "ctype") ? "Content-Type: text/plain; charset=utf-8\r\n" : "";
            size_t n;
            char *answer = request("POST", path, ctype, event, event_len, &n);
            if (strncmp(answer + 9, "202", 3) != 0) fprintf(stderr, "fidelity: /response answered %.40s\n", answer);
            free(answer);
        }
        long after = number(event, "after_ms");
        if (after > 0) {
            printf("after-start %s\n", id);
            sleep_ms(after);
            printf("after-done %s\n", id);
        }
        if (strstr(event, "\"exit_after\":")) exit((int)number(event, "exit_after"));
        free(next);
    }
}
