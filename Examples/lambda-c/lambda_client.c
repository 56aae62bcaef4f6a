/*
 * lambda_client.c - a tiny C client for the AWS Lambda Runtime API.
 * libc only, C11 (GNU extensions for MSG_NOSIGNAL / SOCK_CLOEXEC). See lambda_client.h.
 */
#define _GNU_SOURCE
#include "lambda_client.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#define LC_API_PREFIX "/2018-06-01/runtime"
#define LC_MAX_HEAD (1024 * 1024) /* refuse response headers larger than this */

static int g_fd = -1;         /* kept-alive connection, -1 if none */
static char g_host[320];      /* value of the Host: header for the current endpoint */

static void lc_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void lc_log(const char *fmt, ...) {
    int saved = errno;
    va_list ap;
    va_start(ap, fmt);
    fputs("lambda_client: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fflush(stderr);
    errno = saved;
}

void lc_close(void) {
    if (g_fd >= 0) {
        close(g_fd);
        g_fd = -1;
    }
}

/* ---------------------------------------------------------------- connect */

/* connect() that copes with EINTR (the connection then completes asynchronously). */
static int connect_fd(int fd, const struct sockaddr *sa, socklen_t len) {
    if (connect(fd, sa, len) == 0) return 0;
    if (errno != EINTR && errno != EINPROGRESS) return -1;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int r = poll(&p, 1, -1);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        break;
    }
    int err = 0;
    socklen_t el = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0) return -1;
    if (err != 0) {
        errno = err;
        return -1;
    }
    return 0;
}

static int connect_unix(const char *path) {
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    size_t n = strlen(path);
    if (n >= sizeof sa.sun_path) {
        errno = ENAMETOOLONG;
        lc_log("HEARTH_RUNTIME_SOCKET path too long: %s", path);
        return -1;
    }
    memcpy(sa.sun_path, path, n);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        lc_log("socket(AF_UNIX): %s", strerror(errno));
        return -1;
    }
    if (connect_fd(fd, (struct sockaddr *)&sa, (socklen_t)sizeof sa) < 0) {
        int e = errno;
        lc_log("connect(%s): %s", path, strerror(e));
        close(fd);
        errno = e;
        return -1;
    }
    snprintf(g_host, sizeof g_host, "localhost");
    return fd;
}

static int connect_tcp(const char *api) {
    char host[256];
    const char *port;
    size_t hlen;
    if (api[0] == '[') { /* [v6addr]:port */
        const char *end = strchr(api, ']');
        if (!end || end[1] != ':') goto bad;
        hlen = (size_t)(end - api - 1);
        if (hlen == 0 || hlen >= sizeof host) goto bad;
        memcpy(host, api + 1, hlen);
        port = end + 2;
    } else {
        const char *colon = strrchr(api, ':');
        if (!colon) goto bad;
        hlen = (size_t)(colon - api);
        if (hlen == 0 || hlen >= sizeof host) goto bad;
        memcpy(host, api, hlen);
        port = colon + 1;
    }
    host[hlen] = '\0';
    char *endp;
    long pnum = strtol(port, &endp, 10);
    if (*port == '\0' || *endp != '\0' || pnum <= 0 || pnum > 65535) goto bad;

    struct sockaddr_storage ss;
    socklen_t sslen = 0;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)pnum);
        sslen = sizeof *s4;
    } else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)pnum);
        sslen = sizeof *s6;
    } else { /* a name such as "localhost": needs the resolver */
        struct addrinfo hints, *res = NULL;
        memset(&hints, 0, sizeof hints);
        hints.ai_socktype = SOCK_STREAM;
        int gr = getaddrinfo(host, port, &hints, &res);
        if (gr != 0 || !res) {
            lc_log("cannot resolve %s: %s", host, gai_strerror(gr));
            errno = EHOSTUNREACH;
            return -1;
        }
        if (res->ai_addrlen > sizeof ss) {
            freeaddrinfo(res);
            goto bad;
        }
        memcpy(&ss, res->ai_addr, res->ai_addrlen);
        sslen = res->ai_addrlen;
        freeaddrinfo(res);
    }

    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        lc_log("socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect_fd(fd, (struct sockaddr *)&ss, sslen) < 0) {
        int e = errno;
        lc_log("connect(%s): %s", api, strerror(e));
        close(fd);
        errno = e;
        return -1;
    }
    snprintf(g_host, sizeof g_host, "%s", api);
    return fd;

bad:
    lc_log("invalid AWS_LAMBDA_RUNTIME_API (want host:port): %s", api);
    errno = EINVAL;
    return -1;
}

static int lc_connect(void) {
    const char *sock = getenv("HEARTH_RUNTIME_SOCKET");
    if (sock && *sock) return connect_unix(sock);
    const char *api = getenv("AWS_LAMBDA_RUNTIME_API");
    if (api && *api) return connect_tcp(api);
    lc_log("neither HEARTH_RUNTIME_SOCKET nor AWS_LAMBDA_RUNTIME_API is set");
    errno = EDESTADDRREQ;
    return -1;
}

/* ---------------------------------------------------------------- I/O */

/* Sends a then b completely (partial writes, EINTR). MSG_NOSIGNAL avoids SIGPIPE. */
static int send_all2(int fd, const char *a, size_t alen, const char *b, size_t blen) {
    struct iovec iov[2] = {{(void *)a, alen}, {(void *)b, blen}};
    int idx = 0, cnt = (b && blen) ? 2 : 1;
    while (idx < cnt) {
        if (iov[idx].iov_len == 0) {
            idx++;
            continue;
        }
        struct msghdr mh;
        memset(&mh, 0, sizeof mh);
        mh.msg_iov = &iov[idx];
        mh.msg_iovlen = (size_t)(cnt - idx);
        ssize_t w = sendmsg(fd, &mh, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        size_t left = (size_t)w;
        while (left > 0 && idx < cnt) {
            if (left >= iov[idx].iov_len) {
                left -= iov[idx].iov_len;
                iov[idx].iov_len = 0;
                idx++;
            } else {
                iov[idx].iov_base = (char *)iov[idx].iov_base + left;
                iov[idx].iov_len -= left;
                left = 0;
            }
        }
    }
    return 0;
}

/* Buffered reader over the connection. */
typedef struct {
    int fd;
    char *buf;
    size_t len, pos, cap;
    size_t total; /* bytes received in total, to decide whether a retry is safe */
} reader;

/* Reads more bytes. Returns >0 bytes read, 0 on EOF, -1 on error. */
static ssize_t rd_fill(reader *r) {
    if (r->cap - r->len < 65536) {
        size_t ncap = r->cap ? r->cap * 2 : 65536;
        while (ncap - r->len < 65536) ncap *= 2;
        char *nb = realloc(r->buf, ncap);
        if (!nb) {
            errno = ENOMEM;
            return -1;
        }
        r->buf = nb;
        r->cap = ncap;
    }
    for (;;) {
        ssize_t n = recv(r->fd, r->buf + r->len, r->cap - r->len, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n > 0) {
            r->len += (size_t)n;
            r->total += (size_t)n;
        }
        return n;
    }
}

/* Ensures n unread bytes are buffered. 0 ok, -1 on EOF (errno ECONNRESET) or error. */
static int rd_need(reader *r, size_t n) {
    while (r->len - r->pos < n) {
        ssize_t k = rd_fill(r);
        if (k == 0) errno = ECONNRESET;
        if (k <= 0) return -1;
    }
    return 0;
}

/* Reads one line; *off and *llen give the line (without CR/LF) inside r->buf. */
static int rd_line(reader *r, size_t *off, size_t *llen) {
    size_t scan = r->pos;
    for (;;) {
        char *nl = scan < r->len ? memchr(r->buf + scan, '\n', r->len - scan) : NULL;
        if (nl) {
            size_t end = (size_t)(nl - r->buf);
            *off = r->pos;
            *llen = end - r->pos;
            if (*llen > 0 && r->buf[end - 1] == '\r') (*llen)--;
            r->pos = end + 1;
            return 0;
        }
        scan = r->len;
        if (r->len - r->pos > LC_MAX_HEAD) {
            errno = EMSGSIZE;
            return -1;
        }
        ssize_t k = rd_fill(r);
        if (k == 0) errno = ECONNRESET;
        if (k <= 0) return -1;
    }
}

typedef struct {
    int status;
    char *head;     /* header lines joined with '\n', NUL-terminated */
    char *body;     /* NUL-terminated */
    size_t body_len;
    int close_after;
} response;

static void resp_free(response *rs) {
    free(rs->head);
    free(rs->body);
    memset(rs, 0, sizeof *rs);
}

/* Finds header `name` (case-insensitive) in a '\n'-joined header block; copies its
 * trimmed value into out. Returns 1 if found. */
static int find_header(const char *head, const char *name, char *out, size_t outsz) {
    size_t nlen = strlen(name);
    const char *p = head;
    while (p && *p) {
        const char *eol = strchr(p, '\n');
        size_t llen = eol ? (size_t)(eol - p) : strlen(p);
        if (llen > nlen && p[nlen] == ':' && strncasecmp(p, name, nlen) == 0) {
            const char *v = p + nlen + 1;
            const char *ve = p + llen;
            while (v < ve && (*v == ' ' || *v == '\t')) v++;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
            size_t vl = (size_t)(ve - v);
            if (outsz) {
                if (vl >= outsz) vl = outsz - 1;
                memcpy(out, v, vl);
                out[vl] = '\0';
            }
            return 1;
        }
        p = eol ? eol + 1 : NULL;
    }
    return 0;
}

static int append(char **buf, size_t *len, size_t *cap, const char *data, size_t n) {
    if (*len + n + 1 > *cap) {
        size_t nc = *cap ? *cap : 256;
        while (*len + n + 1 > nc) nc *= 2;
        char *nb = realloc(*buf, nc);
        if (!nb) return -1;
        *buf = nb;
        *cap = nc;
    }
    if (n) memcpy(*buf + *len, data, n);
    *len += n;
    (*buf)[*len] = '\0';
    return 0;
}

/* Reads one complete HTTP response (skipping 1xx). Returns 0 or -1. */
static int read_response(reader *r, response *rs) {
    memset(rs, 0, sizeof *rs);
    size_t off, ll;
    int http10 = 0;
    for (;;) { /* status line + headers, repeated for 1xx interim responses */
        if (rd_line(r, &off, &ll) < 0) goto fail;
        if (ll == 0) continue; /* tolerate stray blank lines */
        char line[64];
        size_t cl = ll < sizeof line - 1 ? ll : sizeof line - 1;
        memcpy(line, r->buf + off, cl);
        line[cl] = '\0';
        int maj = 0, min = 0, st = 0;
        if (sscanf(line, "HTTP/%d.%d %d", &maj, &min, &st) != 3 || st < 100 || st > 999) {
            lc_log("malformed status line: %s", line);
            errno = EPROTO;
            goto fail;
        }
        http10 = (maj == 1 && min == 0);
        free(rs->head);
        rs->head = NULL;
        size_t hl = 0, hc = 0;
        if (append(&rs->head, &hl, &hc, "", 0) < 0) goto oom;
        for (;;) {
            if (rd_line(r, &off, &ll) < 0) goto fail;
            if (ll == 0) break;
            if (append(&rs->head, &hl, &hc, r->buf + off, ll) < 0 ||
                append(&rs->head, &hl, &hc, "\n", 1) < 0)
                goto oom;
        }
        rs->status = st;
        if (st >= 200) break;
    }

    char val[128];
    if (find_header(rs->head, "Connection", val, sizeof val)) {
        if (strcasestr(val, "close")) rs->close_after = 1;
        else if (strcasestr(val, "keep-alive")) http10 = 0;
    }
    if (http10) rs->close_after = 1;

    size_t bl = 0, bc = 0;
    if (append(&rs->body, &bl, &bc, "", 0) < 0) goto oom;
    char te[128];
    if (find_header(rs->head, "Transfer-Encoding", te, sizeof te) && strcasestr(te, "chunked")) {
        for (;;) {
            if (rd_line(r, &off, &ll) < 0) goto fail;
            char szs[32];
            size_t cl = ll < sizeof szs - 1 ? ll : sizeof szs - 1;
            memcpy(szs, r->buf + off, cl);
            szs[cl] = '\0';
            char *e;
            unsigned long long n = strtoull(szs, &e, 16);
            if (e == szs) {
                errno = EPROTO;
                goto fail;
            }
            if (n == 0) { /* trailers until blank line */
                do {
                    if (rd_line(r, &off, &ll) < 0) goto fail;
                } while (ll != 0);
                break;
            }
            if (rd_need(r, (size_t)n + 2) < 0) goto fail;
            if (append(&rs->body, &bl, &bc, r->buf + r->pos, (size_t)n) < 0) goto oom;
            r->pos += (size_t)n + 2;
        }
    } else if (find_header(rs->head, "Content-Length", val, sizeof val)) {
        char *e;
        unsigned long long n = strtoull(val, &e, 10);
        if (e == val) {
            errno = EPROTO;
            goto fail;
        }
        if (rd_need(r, (size_t)n) < 0) goto fail;
        if (append(&rs->body, &bl, &bc, r->buf + r->pos, (size_t)n) < 0) goto oom;
        r->pos += (size_t)n;
    } else if (rs->status != 204 && rs->status != 304) {
        /* No length: body runs until the server closes the connection. */
        for (;;) {
            ssize_t k = rd_fill(r);
            if (k < 0) goto fail;
            if (k == 0) break;
        }
        if (append(&rs->body, &bl, &bc, r->buf + r->pos, r->len - r->pos) < 0) goto oom;
        r->pos = r->len;
        rs->close_after = 1;
    }
    rs->body_len = bl;
    return 0;

oom:
    errno = ENOMEM;
fail:;
    int e = errno;
    resp_free(rs);
    errno = e;
    return -1;
}

/* Writes `s` into out, percent-encoding bytes that would break a request line. */
static void path_escape(const char *s, char *out, size_t outsz) {
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *s && o + 4 < outsz; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= 0x20 || c >= 0x7f || c == '/' || c == '?' || c == '#' || c == '%') {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
}

/* Performs one request on the kept-alive connection, reconnecting and retrying
 * once if a reused connection turns out to be closed. Returns 0 and fills rs. */
static int do_request(const char *method, const char *path, const char *extra_headers,
                      const char *body, size_t len, int has_body, response *rs) {
    size_t extra_len = extra_headers ? strlen(extra_headers) : 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        int reused = 1;
        if (g_fd < 0) {
            g_fd = lc_connect();
            if (g_fd < 0) return -1;
            reused = 0;
        }
        size_t hsz = strlen(method) + strlen(path) + strlen(g_host) + extra_len + 128;
        char *hdr = malloc(hsz);
        if (!hdr) {
            errno = ENOMEM;
            return -1;
        }
        int n = snprintf(hdr, hsz, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: hearth-lambda-client/1\r\n",
                         method, path, g_host);
        size_t hl = (size_t)n;
        if (has_body) hl += (size_t)snprintf(hdr + hl, hsz - hl, "Content-Length: %zu\r\n", len);
        if (extra_len) {
            memcpy(hdr + hl, extra_headers, extra_len);
            hl += extra_len;
            if (extra_len < 2 || extra_headers[extra_len - 2] != '\r' || extra_headers[extra_len - 1] != '\n') {
                memcpy(hdr + hl, "\r\n", 2);
                hl += 2;
            }
        }
        memcpy(hdr + hl, "\r\n", 2);
        hl += 2;

        int rc = send_all2(g_fd, hdr, hl, has_body ? body : NULL, has_body ? len : 0);
        free(hdr);
        reader r = {.fd = g_fd};
        if (rc == 0) rc = read_response(&r, rs);
        free(r.buf);
        if (rc == 0) {
            if (rs->close_after) lc_close();
            return 0;
        }
        int e = errno;
        lc_close();
        /* Retry only when a reused connection died before any response byte arrived. */
        if (reused && r.total == 0 && (e == EPIPE || e == ECONNRESET || e == ENOTCONN)) continue;
        lc_log("%s %s failed: %s", method, path, strerror(e));
        errno = e;
        return -1;
    }
    errno = ECONNRESET;
    return -1;
}

/* ---------------------------------------------------------------- JSON */

char *lc_json_escape(const char *s, size_t len) {
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t cap = len * 6 + 1, o = 0;
    char *out = malloc(cap);
    if (!out) return NULL;
    for (size_t i = 0; i < len;) {
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            out[o++] = '\\';
            switch (c) {
            case '\n': out[o++] = 'n'; break;
            case '\r': out[o++] = 'r'; break;
            case '\t': out[o++] = 't'; break;
            case '\b': out[o++] = 'b'; break;
            case '\f': out[o++] = 'f'; break;
            default:
                out[o++] = 'u';
                out[o++] = '0';
                out[o++] = '0';
                out[o++] = hex[c >> 4];
                out[o++] = hex[c & 15];
            }
            i++;
        } else if (c < 0x80) {
            out[o++] = (char)c;
            i++;
        } else {
            /* Copy a well-formed UTF-8 sequence; otherwise escape the byte. */
            size_t n = 0;
            unsigned int cp = 0;
            if (c >= 0xc2 && c <= 0xdf) n = 2, cp = c & 0x1f;
            else if (c >= 0xe0 && c <= 0xef) n = 3, cp = c & 0x0f;
            else if (c >= 0xf0 && c <= 0xf4) n = 4, cp = c & 0x07;
            int ok = n > 0 && i + n <= len;
            for (size_t k = 1; ok && k < n; k++) {
                if ((p[i + k] & 0xc0) != 0x80) ok = 0;
                else cp = (cp << 6) | (p[i + k] & 0x3f);
            }
            if (ok && ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
                       (n == 4 && (cp < 0x10000 || cp > 0x10ffff))))
                ok = 0;
            if (ok) {
                memcpy(out + o, p + i, n);
                o += n;
                i += n;
            } else {
                out[o++] = '\\';
                out[o++] = 'u';
                out[o++] = '0';
                out[o++] = '0';
                out[o++] = hex[c >> 4];
                out[o++] = hex[c & 15];
                i++;
            }
        }
    }
    out[o] = '\0';
    return out;
}

/* Header values must not contain CR/LF or other control characters. */
static void header_clean(const char *s, char *out, size_t outsz) {
    size_t o = 0;
    for (; s && *s && o + 1 < outsz; s++)
        if ((unsigned char)*s >= 0x20 && *s != 0x7f) out[o++] = *s;
    out[o] = '\0';
}

/* ---------------------------------------------------------------- API */

void lc_invocation_free(lc_invocation *inv) {
    if (!inv) return;
    free(inv->body);
    inv->body = NULL;
    inv->body_len = 0;
}

int lc_next(lc_invocation *inv) {
    memset(inv, 0, sizeof *inv);
    response rs;
    if (do_request("GET", LC_API_PREFIX "/invocation/next", NULL, NULL, 0, 0, &rs) < 0) return -1;
    if (rs.status != 200) {
        lc_log("GET /invocation/next: HTTP %d: %.200s", rs.status, rs.body ? rs.body : "");
        resp_free(&rs);
        errno = EPROTO;
        return -1;
    }
    if (!find_header(rs.head, "Lambda-Runtime-Aws-Request-Id", inv->request_id, sizeof inv->request_id) ||
        inv->request_id[0] == '\0') {
        lc_log("GET /invocation/next: response has no Lambda-Runtime-Aws-Request-Id");
        resp_free(&rs);
        errno = EPROTO;
        return -1;
    }
    char dl[64];
    if (find_header(rs.head, "Lambda-Runtime-Deadline-Ms", dl, sizeof dl)) inv->deadline_ms = strtoll(dl, NULL, 10);
    find_header(rs.head, "Lambda-Runtime-Invoked-Function-Arn", inv->function_arn, sizeof inv->function_arn);
    find_header(rs.head, "Lambda-Runtime-Trace-Id", inv->trace_id, sizeof inv->trace_id);
    find_header(rs.head, "Content-Type", inv->content_type, sizeof inv->content_type);
    inv->body = rs.body; /* already NUL-terminated */
    inv->body_len = rs.body_len;
    rs.body = NULL;
    resp_free(&rs);
    return 0;
}

int lc_post_raw(const char *path, const char *extra_headers, const char *body, size_t len) {
    response rs;
    if (do_request("POST", path, extra_headers, body ? body : "", body ? len : 0, 1, &rs) < 0) return -1;
    int st = rs.status;
    if (st < 200 || st >= 300) lc_log("POST %s: HTTP %d: %.200s", path, st, rs.body ? rs.body : "");
    resp_free(&rs);
    return st;
}

int lc_respond(const char *request_id, const char *body, size_t len) {
    char id[3 * 256 + 1], path[1024];
    path_escape(request_id ? request_id : "", id, sizeof id);
    snprintf(path, sizeof path, LC_API_PREFIX "/invocation/%s/response", id);
    return lc_post_raw(path, NULL, body, len);
}

/* Shared by lc_error and lc_init_error. */
static int post_error(const char *path, const char *error_type, const char *message) {
    if (!error_type) error_type = "Runtime.Unknown";
    if (!message) message = "";
    char *em = lc_json_escape(message, strlen(message));
    char *et = lc_json_escape(error_type, strlen(error_type));
    if (!em || !et) {
        free(em);
        free(et);
        errno = ENOMEM;
        return -1;
    }
    size_t bsz = strlen(em) + strlen(et) + 64;
    char *body = malloc(bsz);
    if (!body) {
        free(em);
        free(et);
        errno = ENOMEM;
        return -1;
    }
    int bl = snprintf(body, bsz, "{\"errorMessage\":\"%s\",\"errorType\":\"%s\"}", em, et);
    free(em);
    free(et);
    char clean[256], hdrs[400];
    header_clean(error_type, clean, sizeof clean);
    snprintf(hdrs, sizeof hdrs, "Content-Type: application/json\r\nLambda-Runtime-Function-Error-Type: %s\r\n", clean);
    int st = lc_post_raw(path, hdrs, body, (size_t)bl);
    free(body);
    return st;
}

int lc_error(const char *request_id, const char *error_type, const char *message) {
    char id[3 * 256 + 1], path[1024];
    path_escape(request_id ? request_id : "", id, sizeof id);
    snprintf(path, sizeof path, LC_API_PREFIX "/invocation/%s/error", id);
    return post_error(path, error_type, message);
}

int lc_init_error(const char *error_type, const char *message) {
    return post_error(LC_API_PREFIX "/init/error", error_type, message);
}
