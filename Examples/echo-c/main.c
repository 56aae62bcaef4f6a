/*
 * example-echo - a minimal AWS Lambda custom runtime written in C.
 *
 * A custom runtime is just an executable (conventionally named "bootstrap")
 * that the platform starts once per execution environment. It talks to the
 * Lambda Runtime API over HTTP; Hearth provides the same API, so this program
 * runs unchanged on AWS Lambda and on Hearth. The whole protocol is a loop:
 *
 *   1. GET  /2018-06-01/runtime/invocation/next
 *        Blocks until there is an event. The body is the event payload; the
 *        headers carry the request id (Lambda-Runtime-Aws-Request-Id), the
 *        deadline (Lambda-Runtime-Deadline-Ms), the function ARN and trace id.
 *   2. Do the work.
 *   3. POST /2018-06-01/runtime/invocation/<request id>/response   (success)
 *      or
 *      POST /2018-06-01/runtime/invocation/<request id>/error      (failure)
 *   4. Go back to 1. The environment may be frozen or killed between events.
 *
 * If initialisation itself fails (before the first /next), a runtime reports it
 * with POST /2018-06-01/runtime/init/error and exits.
 *
 * Where the API lives: AWS sets AWS_LAMBDA_RUNTIME_API=host:port; Hearth may
 * instead set HEARTH_RUNTIME_SOCKET=/path (a Unix socket). lambda_client.c
 * handles both. Configuration of the function arrives in the environment
 * (AWS_LAMBDA_FUNCTION_NAME, AWS_LAMBDA_FUNCTION_MEMORY_SIZE, ...).
 * Anything written to stdout/stderr ends up in the function's logs.
 *
 * This function answers every event with
 *   {"message":"hello from hearth","request_id":"...","function":"...",
 *    "memory_mb":"...","event":<the event, or null if it was empty>}
 * and fails on purpose when the event contains {"fail":true}.
 */
#define _GNU_SOURCE
#include "lambda_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Returns a malloc'd JSON string literal (with quotes) for s. */
static char *json_string(const char *s) {
    char *esc = lc_json_escape(s, strlen(s));
    if (!esc) return NULL;
    size_t n = strlen(esc) + 3;
    char *out = malloc(n);
    if (out) snprintf(out, n, "\"%s\"", esc);
    free(esc);
    return out;
}

/* Is the body empty or only whitespace? Then the event is reported as null. */
static int is_blank(const char *s, size_t len) {
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') return 0;
    return 1;
}

static void handle(const lc_invocation *inv) {
    /* A handler error is reported through the /error endpoint; the runtime
     * itself keeps running and takes the next event. */
    if (inv->body_len && (strstr(inv->body, "\"fail\":true") || strstr(inv->body, "\"fail\": true"))) {
        printf("echo: handling %s (failing on request)\n", inv->request_id);
        fflush(stdout);
        lc_error(inv->request_id, "Echo.Failure", "you asked me to fail");
        return;
    }

    const char *fn = getenv("AWS_LAMBDA_FUNCTION_NAME");
    const char *mem = getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE");
    char *jid = json_string(inv->request_id);
    char *jfn = json_string(fn ? fn : "");
    char *jmem = json_string(mem ? mem : "");
    /* The event is embedded verbatim: Lambda events are JSON documents. */
    const char *event = is_blank(inv->body, inv->body_len) ? "null" : inv->body;
    size_t event_len = is_blank(inv->body, inv->body_len) ? 4 : inv->body_len;

    char *out = NULL;
    size_t out_len = 0;
    if (jid && jfn && jmem) {
        size_t cap = strlen(jid) + strlen(jfn) + strlen(jmem) + event_len + 128;
        out = malloc(cap);
        if (out) {
            int n = snprintf(out, cap,
                             "{\"message\":\"hello from hearth\",\"request_id\":%s,\"function\":%s,"
                             "\"memory_mb\":%s,\"event\":",
                             jid, jfn, jmem);
            out_len = (size_t)n;
            memcpy(out + out_len, event, event_len); /* memcpy: the event may contain NUL bytes */
            out_len += event_len;
            out[out_len++] = '}';
        }
    }
    free(jid);
    free(jfn);
    free(jmem);

    if (!out) {
        lc_error(inv->request_id, "Echo.OutOfMemory", "could not build the response");
        return;
    }
    /* One log line per invocation, before the response so it belongs to this invocation's
     * log; flush because stdout is a pipe, not a tty. */
    printf("echo: handling %s\n", inv->request_id);
    fflush(stdout);
    int status = lc_respond(inv->request_id, out, out_len); /* 202 Accepted on success */
    free(out);
    if (status != 202) fprintf(stderr, "echo: response for %s was rejected (%d)\n", inv->request_id, status);
}

int main(void) {
    /* Initialisation would go here (load config, open connections...). On
     * failure: lc_init_error("Echo.InitFailed", "why"); return 1; */

    for (;;) {
        lc_invocation inv;
        if (lc_next(&inv) != 0) {
            /* The Runtime API is gone or misbehaving: exiting lets the platform
             * tear down (or restart) the environment. */
            fprintf(stderr, "echo: cannot get the next invocation, exiting\n");
            return 1;
        }
        handle(&inv);
        lc_invocation_free(&inv);
    }
}
