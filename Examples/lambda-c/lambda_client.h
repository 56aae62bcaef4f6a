/*
 * lambda_client.h - a tiny C client for the AWS Lambda Runtime API.
 *
 * Endpoint selection (read on every (re)connect):
 *   - HEARTH_RUNTIME_SOCKET=/path/to/socket  -> HTTP/1.1 over that Unix stream socket
 *   - otherwise AWS_LAMBDA_RUNTIME_API=host:port (e.g. 127.0.0.1:9001, [::1]:9001) -> TCP
 *
 * One connection is kept alive and reused between calls; if the server has
 * closed it, the client reconnects and retries the request once, transparently.
 * Not thread-safe (a Lambda runtime handles one invocation at a time).
 * Errors are reported as -1 with a message on stderr and errno set.
 */
#ifndef LAMBDA_CLIENT_H
#define LAMBDA_CLIENT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lc_invocation {
    char request_id[256];     /* Lambda-Runtime-Aws-Request-Id */
    long long deadline_ms;    /* Lambda-Runtime-Deadline-Ms (ms since epoch), 0 if absent */
    char function_arn[512];   /* Lambda-Runtime-Invoked-Function-Arn */
    char trace_id[512];       /* Lambda-Runtime-Trace-Id */
    char content_type[128];   /* Content-Type */
    char *body;               /* event payload, malloc'd, always NUL-terminated (may contain NULs) */
    size_t body_len;          /* payload length in bytes, excluding the terminating NUL */
} lc_invocation;

/* GET /2018-06-01/runtime/invocation/next. Blocks until an event arrives.
 * Returns 0 on success (inv filled in; free with lc_invocation_free), -1 on error. */
int lc_next(lc_invocation *inv);

/* POST /2018-06-01/runtime/invocation/{id}/response with the given body.
 * Returns the HTTP status (202 expected) or -1 on transport error. */
int lc_respond(const char *request_id, const char *body, size_t len);

/* POST /2018-06-01/runtime/invocation/{id}/error with
 * {"errorMessage":message,"errorType":error_type} and header
 * Lambda-Runtime-Function-Error-Type: error_type. Returns HTTP status or -1. */
int lc_error(const char *request_id, const char *error_type, const char *message);

/* POST /2018-06-01/runtime/init/error (same body/header shape as lc_error).
 * Returns HTTP status or -1. */
int lc_init_error(const char *error_type, const char *message);

/* Generic POST of `body` (len bytes, may be NULL when len == 0) to `path`.
 * `extra_headers` is NULL or one or more "Name: value\r\n" lines (a missing
 * final CRLF is added). Host and Content-Length are always sent by the client.
 * Returns HTTP status or -1. */
int lc_post_raw(const char *path, const char *extra_headers, const char *body, size_t len);

/* Frees inv->body and resets it to NULL / 0. Safe to call twice. */
void lc_invocation_free(lc_invocation *inv);

/* Convenience: JSON-escape `len` bytes of `s` (no surrounding quotes).
 * ", \ and control characters are escaped (\n, \t, ... or \u00XX); bytes that
 * are not valid UTF-8 are emitted as \u00XX so the result is always valid JSON.
 * Returns a malloc'd NUL-terminated string (caller frees) or NULL on OOM. */
char *lc_json_escape(const char *s, size_t len);

/* Closes the kept-alive connection, if any (the next call reconnects). */
void lc_close(void);

#ifdef __cplusplus
}
#endif

#endif /* LAMBDA_CLIENT_H */
