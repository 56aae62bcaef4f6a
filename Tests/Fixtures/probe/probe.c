/*
 * hearth-probe - a Lambda custom runtime ("bootstrap") used by Hearth's tests.
 *
 * It runs INSIDE Hearth sandboxes and answers each invocation with a JSON report
 * of what it could or could not do there. Several commands are deliberately
 * hostile (syscalls, forkbomb, memhog, tmpfill, fdbomb, net): never invoke them
 * outside a sandbox.
 *
 * Event format: {"cmd":"<name>", ...parameters...}; no "cmd" means "echo".
 * Start-up knobs (environment):
 *   PROBE_EXIT_AT_INIT=<code>     exit(code) before talking to the Runtime API
 *   cat {"path":P}: up to 4 KB of a file, or its errno
 *   mountinfo: the whole of /proc/self/mountinfo and /proc/self/mounts, and the hostname
 *   PROBE_USE_TCP=1               ignore HEARTH_RUNTIME_SOCKET: use AWS_LAMBDA_RUNTIME_API (TCP)
 *   PROBE_INIT_ERROR=<message>    POST /runtime/init/error (Probe.InitError), then exit(3)
 *   PROBE_SLEEP_AT_INIT_MS=<ms>   sleep before the first /next
 * Invoked as `bootstrap --euid` it prints its ids and exits (the suid command's helper).
 *
 * Conventions in the reports: errno values are plain integers (0 = success);
 * in "syscalls" a negative value -N means the test child was killed by signal N
 * (e.g. -31 = SIGSYS from a seccomp kill action) and null means the test could
 * not be run; unlimited rlimits are reported as -1.
 */
#define _GNU_SOURCE
#include "lambda_client.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/vfs.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* ================================================================ JSON output */

typedef struct {
    char *p;
    size_t len, cap;
} jbuf;

static void jb_put(jbuf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 1024;
        while (b->len + n + 1 > nc) nc *= 2;
        char *np = realloc(b->p, nc);
        if (!np) {
            fputs("hearth-probe: out of memory building a response\n", stderr);
            _exit(70);
        }
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void jb_raw(jbuf *b, const char *s) { jb_put(b, s, strlen(s)); }

/* Adds a ',' unless we are right after '{', '[' or ':'. */
static void jb_sep(jbuf *b) {
    if (b->len == 0) return;
    char c = b->p[b->len - 1];
    if (c != '{' && c != '[' && c != ':') jb_put(b, ",", 1);
}

static void jb_strn(jbuf *b, const char *s, size_t n) {
    jb_sep(b);
    char *e = lc_json_escape(s ? s : "", s ? n : 0);
    if (!e) {
        fputs("hearth-probe: out of memory escaping a string\n", stderr);
        _exit(70);
    }
    jb_put(b, "\"", 1);
    jb_raw(b, e);
    jb_put(b, "\"", 1);
    free(e);
}

static void jb_str(jbuf *b, const char *s) { jb_strn(b, s, s ? strlen(s) : 0); }

static void jb_key(jbuf *b, const char *k) {
    jb_str(b, k);
    jb_put(b, ":", 1);
}

static void jb_int(jbuf *b, long long v) {
    char t[32];
    jb_sep(b);
    snprintf(t, sizeof t, "%lld", v);
    jb_raw(b, t);
}

static void jb_open(jbuf *b, char c) {
    jb_sep(b);
    jb_put(b, &c, 1);
}

static void jb_close(jbuf *b, char c) { jb_put(b, &c, 1); }

static void jb_kint(jbuf *b, const char *k, long long v) { jb_key(b, k); jb_int(b, v); }
static void jb_kstr(jbuf *b, const char *k, const char *s) { jb_key(b, k); jb_str(b, s); }
static void jb_kstrn(jbuf *b, const char *k, const char *s, size_t n) { jb_key(b, k); jb_strn(b, s, n); }
static void jb_kbool(jbuf *b, const char *k, int v) {
    jb_key(b, k);
    jb_raw(b, v ? "true" : "false");
}
static void jb_knull(jbuf *b, const char *k) {
    jb_key(b, k);
    jb_raw(b, "null");
}

/* ================================================================ JSON input (minimal) */

/* Returns a pointer to the value of "key" (after ':' and whitespace), or NULL. */
static const char *json_find(const char *body, size_t len, const char *key) {
    char pat[128];
    int pl = snprintf(pat, sizeof pat, "\"%s\"", key);
    if (pl <= 0 || (size_t)pl >= sizeof pat) return NULL;
    const char *p = body, *end = body + len;
    while (p < end) {
        const char *hit = memmem(p, (size_t)(end - p), pat, (size_t)pl);
        if (!hit) return NULL;
        const char *q = hit + pl;
        while (q < end && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')) q++;
        if (q < end && *q == ':') {
            q++;
            while (q < end && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')) q++;
            return q < end ? q : NULL;
        }
        p = hit + 1;
    }
    return NULL;
}

static int json_get_int(const char *body, size_t len, const char *key, long long *out) {
    const char *v = json_find(body, len, key);
    if (!v) return 0;
    char *e;
    errno = 0;
    long long n = strtoll(v, &e, 10);
    if (e == v || errno) return 0;
    *out = n;
    return 1;
}

/* Copies a JSON string value (simple escapes decoded; non-ASCII \u escapes become '?'). */
static int json_get_str(const char *body, size_t len, const char *key, char *out, size_t outsz) {
    const char *v = json_find(body, len, key);
    const char *end = body + len;
    if (!v || *v != '"' || outsz == 0) return 0;
    size_t o = 0;
    for (v++; v < end && *v != '"'; v++) {
        char c = *v;
        if (c == '\\' && v + 1 < end) {
            v++;
            switch (*v) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'u': {
                char hex[5] = {0};
                if (end - v < 5) return 0;
                memcpy(hex, v + 1, 4);
                long cp = strtol(hex, NULL, 16);
                c = (cp > 0 && cp < 0x80) ? (char)cp : '?';
                v += 4;
                break;
            }
            default: c = *v; /* \" \\ \/ */
            }
        }
        if (o + 1 < outsz) out[o++] = c;
    }
    out[o] = '\0';
    return v < end; /* saw the closing quote */
}

/* ================================================================ helpers */

static long long now_ms(clockid_t clk) {
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long long ms) {
    if (ms <= 0) return;
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* Reads a whole (possibly /proc) file. Returns malloc'd NUL-terminated data or NULL (errno set). */
static char *slurp(const char *path, size_t *lenp) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    if (!buf) {
        close(fd);
        errno = ENOMEM;
        return NULL;
    }
    for (;;) {
        if (cap - len < 4096) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                close(fd);
                errno = ENOMEM;
                return NULL;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int e = errno;
            free(buf);
            close(fd);
            errno = e;
            return NULL;
        }
        if (n == 0) break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    if (lenp) *lenp = len;
    return buf;
}

static void respond_json(const char *id, jbuf *b) {
    int st = lc_respond(id, b->p ? b->p : "{}", b->p ? b->len : 2);
    if (st != 202) fprintf(stderr, "hearth-probe: response for %s got status %d\n", id, st);
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* Responds with a single-key object {"key":value}. */
static void respond_int(const char *id, const char *key, long long v) {
    jbuf b = {0};
    jb_open(&b, '{');
    jb_kint(&b, key, v);
    jb_close(&b, '}');
    respond_json(id, &b);
}

/* errno of open(path, flags); on success closes (and unlinks if asked). */
static int open_errno(const char *path, int flags, int unlink_after) {
    int fd = open(path, flags | O_CLOEXEC, 0644);
    if (fd < 0) return errno;
    close(fd);
    if (unlink_after) unlink(path);
    return 0;
}

/* Bytes read (up to 4096) from path, or -errno. */
static long long read_count(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -(long long)errno;
    char buf[4096];
    ssize_t n;
    do {
        n = read(fd, buf, sizeof buf);
    } while (n < 0 && errno == EINTR);
    long long r = n < 0 ? -(long long)errno : (long long)n;
    close(fd);
    return r;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ================================================================ facts */

static void status_field(jbuf *b, const char *status, const char *field, const char *key, int as_int) {
    char pat[64];
    snprintf(pat, sizeof pat, "\n%s:", field);
    const char *p = status ? strstr(status, pat) : NULL;
    if (!p && status && strncmp(status, pat + 1, strlen(pat + 1)) == 0) p = status - 1;
    if (!p) {
        jb_knull(b, key);
        return;
    }
    p += strlen(pat);
    while (*p == ' ' || *p == '\t') p++;
    size_t n = strcspn(p, "\n");
    if (as_int) {
        jb_kint(b, key, strtoll(p, NULL, 10));
    } else {
        jb_kstrn(b, key, p, n);
    }
}

static void cmd_facts(const char *id) {
    jbuf b = {0};
    jb_open(&b, '{');
    jb_kint(&b, "pid", getpid());
    jb_kint(&b, "ppid", getppid());
    jb_kint(&b, "uid", getuid());
    jb_kint(&b, "gid", getgid());
    jb_kint(&b, "euid", geteuid());
    jb_kint(&b, "egid", getegid());

    char host[HOST_NAME_MAX + 1] = {0};
    if (gethostname(host, sizeof host - 1) == 0) jb_kstr(&b, "hostname", host);
    else jb_knull(&b, "hostname");

    /* visible_pids: numeric entries in /proc */
    long long npids = 0;
    DIR *d = opendir("/proc");
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            const char *s = de->d_name;
            if (!*s) continue;
            while (*s >= '0' && *s <= '9') s++;
            if (*s == '\0') npids++;
        }
        closedir(d);
        jb_kint(&b, "visible_pids", npids);
    } else {
        jb_kint(&b, "visible_pids", -(long long)errno);
    }

    /* interfaces from /proc/net/dev */
    jb_key(&b, "interfaces");
    jb_open(&b, '[');
    char *netdev = slurp("/proc/net/dev", NULL);
    if (netdev) {
        char *save = NULL;
        int lineno = 0;
        for (char *line = strtok_r(netdev, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            if (lineno++ < 2) continue; /* two header lines */
            char *colon = strchr(line, ':');
            if (!colon) continue;
            *colon = '\0';
            while (*line == ' ') line++;
            jb_str(&b, line);
        }
        free(netdev);
    }
    jb_close(&b, ']');

    /* lo_up via SIOCGIFFLAGS */
    int lo_up = 0, lo_errno = 0;
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) {
        lo_errno = errno;
    } else {
        struct ifreq ifr;
        memset(&ifr, 0, sizeof ifr);
        strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
        if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) lo_errno = errno;
        else lo_up = (ifr.ifr_flags & IFF_UP) != 0;
        close(s);
    }
    jb_kbool(&b, "lo_up", lo_up);
    jb_kint(&b, "lo_up_errno", lo_errno);

    /* capabilities & co from /proc/self/status */
    char *status = slurp("/proc/self/status", NULL);
    status_field(&b, status, "CapEff", "cap_eff", 0);
    status_field(&b, status, "CapPrm", "cap_prm", 0);
    status_field(&b, status, "CapBnd", "cap_bnd", 0);
    status_field(&b, status, "CapAmb", "cap_amb", 0);
    status_field(&b, status, "NoNewPrivs", "no_new_privs", 1);
    status_field(&b, status, "Seccomp", "seccomp", 1);
    free(status);

    /* write tests */
    jb_kint(&b, "root_write_errno", open_errno("/probe-write-test", O_CREAT | O_WRONLY, 1));
    jb_kint(&b, "task_write_errno", open_errno("/var/task/probe-write-test", O_CREAT | O_WRONLY, 1));
    jb_kint(&b, "opt_write_errno", open_errno("/opt/probe-write-test", O_CREAT | O_WRONLY, 1));
    jb_kint(&b, "tmp_write_errno", open_errno("/tmp/probe-write-test", O_CREAT | O_WRONLY, 1));
    jb_kint(&b, "proc_sys_write_errno", open_errno("/proc/sys/kernel/hostname", O_WRONLY, 0));
    jb_kint(&b, "kcore_read", read_count("/proc/kcore"));
    jb_kint(&b, "keys_read", read_count("/proc/keys"));
    jb_kint(&b, "sysrq_write_errno", open_errno("/proc/sysrq-trigger", O_WRONLY, 0)); /* never written */
    jb_kint(&b, "sys_write_errno", open_errno("/sys/kernel/uevent_helper", O_WRONLY, 0)); /* never written */
    jb_kint(&b, "sys_mkdir_errno", mkdir("/sys/fs/cgroup/hearth-probe", 0700) == 0 ? (rmdir("/sys/fs/cgroup/hearth-probe"), 0) : errno);

    /* /dev entries, sorted */
    jb_key(&b, "dev_entries");
    jb_open(&b, '[');
    d = opendir("/dev");
    if (d) {
        char **names = NULL;
        size_t n = 0, cap = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                char **nn = realloc(names, cap * sizeof *names);
                if (!nn) break;
                names = nn;
            }
            names[n] = strdup(de->d_name);
            if (names[n]) n++;
        }
        closedir(d);
        if (n) qsort(names, n, sizeof *names, cmp_str);
        for (size_t i = 0; i < n; i++) {
            jb_str(&b, names[i]);
            free(names[i]);
        }
        free(names);
    }
    jb_close(&b, ']');

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        jb_kint(&b, "rlimit_nofile", rl.rlim_cur == RLIM_INFINITY ? -1 : (long long)rl.rlim_cur);
    else
        jb_knull(&b, "rlimit_nofile");
    if (getrlimit(RLIMIT_CORE, &rl) == 0)
        jb_kint(&b, "rlimit_core", rl.rlim_cur == RLIM_INFINITY ? -1 : (long long)rl.rlim_cur);
    else
        jb_knull(&b, "rlimit_core");

    /* Open descriptors, as "fd -> target": only 0-2 and the runtime client's socket should be here. */
    jb_key(&b, "open_fds");
    jb_open(&b, '[');
    DIR *fdd = opendir("/proc/self/fd");
    if (fdd) {
        struct dirent *de;
        while ((de = readdir(fdd)) != NULL) {
            if (de->d_name[0] == '.' || atoi(de->d_name) == dirfd(fdd)) continue;
            char lp[300], target[PATH_MAX + 1];
            snprintf(lp, sizeof lp, "/proc/self/fd/%s", de->d_name);
            ssize_t tn = readlink(lp, target, PATH_MAX);
            if (tn < 0) tn = 0;
            target[tn] = '\0';
            char item[PATH_MAX + 300];
            snprintf(item, sizeof item, "%s -> %s", de->d_name, target);
            jb_str(&b, item);
        }
        closedir(fdd);
    }
    jb_close(&b, ']');

    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof cwd)) jb_kstr(&b, "cwd", cwd);
    else jb_knull(&b, "cwd");

    jb_key(&b, "env");
    jb_open(&b, '{');
    for (char **e = environ; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq) continue;
        jb_strn(&b, *e, (size_t)(eq - *e));
        jb_put(&b, ":", 1);
        jb_str(&b, eq + 1);
    }
    jb_close(&b, '}');

    size_t ml = 0;
    char *mounts = slurp("/proc/self/mounts", &ml);
    if (mounts) jb_kstrn(&b, "mounts", mounts, ml);
    else jb_knull(&b, "mounts");
    free(mounts);

    struct statvfs sv;
    if (statvfs("/tmp", &sv) == 0)
        jb_kint(&b, "tmp_size_kb", (long long)((unsigned long long)sv.f_blocks * sv.f_frsize / 1024));
    else
        jb_kint(&b, "tmp_size_kb", -(long long)errno);

    size_t cl = 0;
    char *cg = slurp("/proc/self/cgroup", &cl);
    if (cg) jb_kstrn(&b, "cgroup", cg, cl);
    else jb_knull(&b, "cgroup");
    free(cg);

    jb_close(&b, '}');
    respond_json(id, &b);
}

/* ================================================================ syscalls */

/* Each test returns 0 on success or an errno. They run in a forked child so that
 * a seccomp kill, a successful chroot/unshare or similar cannot affect the probe. */

#define NOPE_PATH "/nonexistent-hearth-probe-dir/x"

static long ret_errno(long r) { return r < 0 ? errno : 0; }

/* Close an fd a call may have returned. */
static long fd_errno(long r) {
    if (r < 0) return errno;
    close((int)r);
    return 0;
}

static long t_mount(void) {
    /* Target does not exist and the fs type is bogus: ENOENT/ENODEV if permitted. */
    return ret_errno(syscall(SYS_mount, "none", NOPE_PATH, "hearth-probe-nofs", 0UL, NULL));
}
static long t_umount2(void) { return ret_errno(syscall(SYS_umount2, NOPE_PATH, 0)); }
static long t_pivot_root(void) { return ret_errno(syscall(SYS_pivot_root, NOPE_PATH, NOPE_PATH)); }
static long t_unshare(void) { return ret_errno(syscall(SYS_unshare, CLONE_NEWNS)); }
static long t_unshare_user(void) { return ret_errno(syscall(SYS_unshare, CLONE_NEWUSER)); }
static long t_setns(void) { return ret_errno(syscall(SYS_setns, -1, 0)); }
static long t_keyctl(void) { return ret_errno(syscall(SYS_keyctl, 0x7fff0000, 0, 0, 0, 0)); } /* invalid op */
static long t_add_key(void) { return ret_errno(syscall(SYS_add_key, NULL, NULL, NULL, 0, 0)); } /* EFAULT */
static long t_request_key(void) { return ret_errno(syscall(SYS_request_key, NULL, NULL, NULL, 0)); }
static long t_bpf(void) { return fd_errno(syscall(SYS_bpf, 0x7fff, NULL, 0)); } /* invalid cmd */
static long t_perf_event_open(void) { return fd_errno(syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0)); }
static long t_kexec_load(void) {
    /* Too many segments, unknown flag, unknown arch: always EINVAL if permitted. */
    return ret_errno(syscall(SYS_kexec_load, 0UL, 1000UL, NULL, 0x7fff4000UL));
}
static long t_kexec_file_load(void) {
#ifdef SYS_kexec_file_load
    /* Unknown flag only (never KEXEC_FILE_UNLOAD), bad fds: EINVAL/EBADF if permitted. */
    return ret_errno(syscall(SYS_kexec_file_load, -1, -1, 0UL, NULL, 0x40000000UL));
#else
    errno = ENOSYS;
    return ENOSYS;
#endif
}
static long t_init_module(void) { return ret_errno(syscall(SYS_init_module, NULL, 0UL, "")); }
static long t_finit_module(void) { return ret_errno(syscall(SYS_finit_module, -1, "", 0)); }
static long t_delete_module(void) {
    return ret_errno(syscall(SYS_delete_module, "hearth_probe_no_such_module", O_NONBLOCK));
}
static long t_open_by_handle_at(void) { return fd_errno(syscall(SYS_open_by_handle_at, -1, NULL, O_RDONLY)); }
static long t_settimeofday(void) { return ret_errno(syscall(SYS_settimeofday, NULL, NULL)); }
static long t_clock_settime(void) { return ret_errno(syscall(SYS_clock_settime, CLOCK_REALTIME, NULL)); }
static long t_swapon(void) { return ret_errno(syscall(SYS_swapon, NULL, 0)); }
static long t_swapoff(void) { return ret_errno(syscall(SYS_swapoff, NULL)); }
static long t_reboot(void) {
    /* Wrong magic numbers: the kernel rejects these before looking at the command. */
    return ret_errno(syscall(SYS_reboot, 0x1badc0de, 0x2badc0de, 0x3badc0de, NULL));
}
static long t_ptrace_attach_init(void) {
    if (syscall(SYS_ptrace, PTRACE_ATTACH, 1, NULL, NULL) < 0) return errno;
    /* Attached: wait (bounded) for the attach stop, then detach so pid 1 resumes. */
    for (int i = 0; i < 100; i++) {
        int st;
        pid_t w = waitpid(1, &st, WNOHANG | __WALL);
        if (w == 1 || w < 0) break;
        sleep_ms(10);
    }
    syscall(SYS_ptrace, PTRACE_DETACH, 1, NULL, NULL);
    return 0;
}
#if defined(__x86_64__) || defined(__i386__)
static long t_iopl(void) { return ret_errno(syscall(SYS_iopl, 0)); }
static long t_ioperm(void) { return ret_errno(syscall(SYS_ioperm, 0UL, 0UL, 0)); }
#endif
static long t_acct(void) {
    /* A path that cannot exist instead of NULL, so accounting is never switched off. */
    return ret_errno(syscall(SYS_acct, NOPE_PATH));
}
static long t_quotactl(void) {
    /* Q_GETINFO on a NULL device: EFAULT/ENODEV if permitted. */
    return ret_errno(syscall(SYS_quotactl, (0x800005UL << 8) | 0UL, NULL, 0, NULL));
}
static long t_io_setup(void) {
    unsigned long ctx = 0;
    long r = syscall(SYS_io_setup, 1, &ctx);
    if (r == 0) syscall(SYS_io_destroy, ctx); /* took one of fs.aio-max-nr: give it back */
    return ret_errno(r);
}
static long t_userfaultfd(void) {
#ifdef SYS_userfaultfd
    return fd_errno(syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
#else
    errno = ENOSYS;
    return ENOSYS;
#endif
}
static long t_clone_newuser(void) {
    long r = syscall(SYS_clone, (unsigned long)(CLONE_NEWUSER | SIGCHLD), 0UL, NULL, NULL, 0UL);
    if (r == 0) _exit(0);
    if (r < 0) return errno;
    int st;
    waitpid((pid_t)r, &st, __WALL);
    return 0;
}
static long t_clone3(void) {
#ifdef SYS_clone3
    uint64_t args[11]; /* struct clone_args, 88 bytes, all zero (plain fork, no exit signal) */
    memset(args, 0, sizeof args);
    long r = syscall(SYS_clone3, args, sizeof args);
    if (r == 0) _exit(0);
    if (r < 0) return errno;
    int st;
    waitpid((pid_t)r, &st, __WALL);
    return 0;
#else
    errno = ENOSYS;
    return ENOSYS;
#endif
}
static long t_mknod(void) {
#ifdef SYS_mknod
    long r = syscall(SYS_mknod, "/tmp/probe-null", (unsigned long)(S_IFCHR | 0600), (unsigned long)makedev(1, 3));
#else
    long r = syscall(SYS_mknodat, AT_FDCWD, "/tmp/probe-null", (unsigned long)(S_IFCHR | 0600),
                     (unsigned long)makedev(1, 3));
#endif
    if (r < 0) return errno;
    unlink("/tmp/probe-null");
    return 0;
}
static long t_chroot(void) { return ret_errno(syscall(SYS_chroot, "/tmp")); }
/* unshare and setns for every namespace kind (unshare / unshare_user above are NEWNS / NEWUSER). */
static long t_unshare_uts(void) { return ret_errno(syscall(SYS_unshare, CLONE_NEWUTS)); }
static long t_unshare_ipc(void) { return ret_errno(syscall(SYS_unshare, CLONE_NEWIPC)); }
static long t_unshare_pid(void) { return ret_errno(syscall(SYS_unshare, CLONE_NEWPID)); }
static long t_unshare_net(void) { return ret_errno(syscall(SYS_unshare, CLONE_NEWNET)); }
static long t_unshare_cgroup(void) { return ret_errno(syscall(SYS_unshare, CLONE_NEWCGROUP)); }
static long t_unshare_time(void) { return ret_errno(syscall(SYS_unshare, 0x80 /* CLONE_NEWTIME */)); }
/* setns into pid 1's namespace of the kind (the sandbox's own: the host's are not visible). */
static long setns_kind(const char *kind, int nstype) {
    char path[64];
    snprintf(path, sizeof path, "/proc/1/ns/%s", kind);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(path, sizeof path, "/proc/self/ns/%s", kind);
        fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    if (fd < 0) return errno;
    long r = ret_errno(syscall(SYS_setns, fd, nstype));
    close(fd);
    return r;
}
static long t_setns_mnt(void) { return setns_kind("mnt", CLONE_NEWNS); }
static long t_setns_uts(void) { return setns_kind("uts", CLONE_NEWUTS); }
static long t_setns_ipc(void) { return setns_kind("ipc", CLONE_NEWIPC); }
static long t_setns_user(void) { return setns_kind("user", CLONE_NEWUSER); }
static long t_setns_pid(void) { return setns_kind("pid", CLONE_NEWPID); }
static long t_setns_net(void) { return setns_kind("net", CLONE_NEWNET); }
static long t_setns_cgroup(void) { return setns_kind("cgroup", CLONE_NEWCGROUP); }
static long t_setns_time(void) { return setns_kind("time", 0x80); }
static long t_process_vm_readv_init(void) {
    char buf[16];
    struct iovec local = {.iov_base = buf, .iov_len = sizeof buf};
    struct iovec remote = {.iov_base = (void *)0x400000, .iov_len = sizeof buf};
    return ret_errno(syscall(SYS_process_vm_readv, 1, &local, 1UL, &remote, 1UL, 0UL));
}
static long t_socket_raw_inet(void) { return fd_errno(socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP)); }
static long t_socket_raw_inet6(void) { return fd_errno(socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMPV6)); }
static long t_personality_no_aslr(void) {
    return ret_errno(syscall(SYS_personality, 0x0040000UL /* ADDR_NO_RANDOMIZE */));
}
static long t_socket_packet(void) { return fd_errno(socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0)); }
static long t_socket_netlink_audit(void) {
    return fd_errno(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 9 /* NETLINK_AUDIT */));
}

typedef struct {
    const char *name;
    long (*fn)(void);
    int inprocess_ok; /* may run in the probe itself if fork() is unavailable */
} sys_test;

static const sys_test SYS_TESTS[] = {
    {"mount", t_mount, 1},
    {"umount2", t_umount2, 1},
    {"pivot_root", t_pivot_root, 1},
    {"unshare", t_unshare, 0},
    {"unshare_user", t_unshare_user, 0},
    {"setns", t_setns, 1},
    {"keyctl", t_keyctl, 1},
    {"add_key", t_add_key, 1},
    {"request_key", t_request_key, 1},
    {"bpf", t_bpf, 1},
    {"perf_event_open", t_perf_event_open, 1},
    {"kexec_load", t_kexec_load, 1},
    {"kexec_file_load", t_kexec_file_load, 1},
    {"init_module", t_init_module, 1},
    {"finit_module", t_finit_module, 1},
    {"delete_module", t_delete_module, 1},
    {"open_by_handle_at", t_open_by_handle_at, 1},
    {"settimeofday", t_settimeofday, 1},
    {"clock_settime", t_clock_settime, 1},
    {"swapon", t_swapon, 1},
    {"swapoff", t_swapoff, 1},
    {"reboot", t_reboot, 1},
    {"ptrace_attach_init", t_ptrace_attach_init, 0},
#if defined(__x86_64__) || defined(__i386__)
    {"iopl", t_iopl, 1},
    {"ioperm", t_ioperm, 1},
#endif
    {"acct", t_acct, 1},
    {"quotactl", t_quotactl, 1},
    {"userfaultfd", t_userfaultfd, 1},
    {"io_setup", t_io_setup, 1},
    {"clone_newuser", t_clone_newuser, 1},
    {"clone3", t_clone3, 1},
    {"mknod", t_mknod, 1},
    {"chroot", t_chroot, 0},
    {"socket_packet", t_socket_packet, 1},
    {"socket_netlink_audit", t_socket_netlink_audit, 1},
    {"unshare_uts", t_unshare_uts, 0},
    {"unshare_ipc", t_unshare_ipc, 0},
    {"unshare_pid", t_unshare_pid, 0},
    {"unshare_net", t_unshare_net, 0},
    {"unshare_cgroup", t_unshare_cgroup, 0},
    {"unshare_time", t_unshare_time, 0},
    {"setns_mnt", t_setns_mnt, 0},
    {"setns_uts", t_setns_uts, 0},
    {"setns_ipc", t_setns_ipc, 0},
    {"setns_user", t_setns_user, 0},
    {"setns_pid", t_setns_pid, 0},
    {"setns_net", t_setns_net, 0},
    {"setns_cgroup", t_setns_cgroup, 0},
    {"setns_time", t_setns_time, 0},
    {"process_vm_readv_init", t_process_vm_readv_init, 1},
    {"socket_raw_inet", t_socket_raw_inet, 1},
    {"socket_raw_inet6", t_socket_raw_inet6, 1},
    {"personality_no_aslr", t_personality_no_aslr, 0},
};

static void cmd_syscalls(const char *id) {
    jbuf b = {0};
    jb_open(&b, '{');
    for (size_t i = 0; i < sizeof SYS_TESTS / sizeof SYS_TESTS[0]; i++) {
        const sys_test *t = &SYS_TESTS[i];
        jb_key(&b, t->name);
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            long e = t->fn();
            _exit((int)(e & 0xff));
        }
        if (pid < 0) {
            if (t->inprocess_ok) jb_int(&b, t->fn());
            else jb_raw(&b, "null");
            continue;
        }
        int st = 0;
        pid_t w;
        do {
            w = waitpid(pid, &st, 0);
        } while (w < 0 && errno == EINTR);
        if (w < 0) jb_raw(&b, "null");
        else if (WIFEXITED(st)) jb_int(&b, WEXITSTATUS(st));
        else if (WIFSIGNALED(st)) jb_int(&b, -(long long)WTERMSIG(st));
        else jb_raw(&b, "null");
    }
    jb_close(&b, '}');
    respond_json(id, &b);
}

/* ================================================================ resource hogs */

static void cmd_memhog(const char *id, long long mb) {
    const size_t chunk = 1024 * 1024;
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0) page = 4096;
    if (mb < 0) mb = 0;
    char **chunks = calloc((size_t)mb + 1, sizeof *chunks);
    long long got = 0;
    if (chunks) {
        for (; got < mb; got++) {
            char *c = malloc(chunk);
            if (!c) break;
            for (size_t off = 0; off < chunk; off += (size_t)page) c[off] = (char)1; /* touch every page */
            c[chunk - 1] = 1;
            chunks[got] = c;
        }
    }
    respond_int(id, "allocated_mb", got);
    for (long long i = 0; i < got; i++) free(chunks[i]);
    free(chunks);
}

/* Forks until fork fails (at most 100,000), holds the children for hold_ms (so that a
 * neighbour can try while they exist), then kills them by pid. */
static void cmd_forkbomb(const char *id, long long hold_ms) {
    const long long limit = 100000;
    pid_t *pids = NULL;
    size_t cap = 0;
    long long n = 0;
    int err = 0;
    fflush(NULL);
    while (n < limit) {
        if ((size_t)n == cap) {
            size_t nc = cap ? cap * 2 : 1024;
            pid_t *np = realloc(pids, nc * sizeof *pids);
            if (!np) {
                err = ENOMEM;
                break;
            }
            pids = np;
            cap = nc;
        }
        pid_t p = fork();
        if (p == 0) {
            for (;;) pause();
        }
        if (p < 0) {
            err = errno;
            break;
        }
        pids[n++] = p;
    }
    if (hold_ms > 0) sleep_ms(hold_ms < 20000 ? hold_ms : 20000);
    for (long long i = 0; i < n; i++) kill(pids[i], SIGKILL); /* by pid, never -1 */
    for (long long i = 0; i < n; i++) {
        while (waitpid(pids[i], NULL, 0) < 0 && errno == EINTR) {
        }
    }
    free(pids);
    jbuf b = {0};
    jb_open(&b, '{');
    jb_kint(&b, "forked", n);
    jb_kint(&b, "errno", err);
    jb_close(&b, '}');
    respond_json(id, &b);
}

static void cmd_tmpfill(const char *id, long long max_mb) {
    const size_t chunk = 1024 * 1024;
    char *block = malloc(chunk);
    long long written = 0;
    int err = 0;
    struct sigaction old, ign;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigaction(SIGXFSZ, &ign, &old); /* get EFBIG instead of dying on RLIMIT_FSIZE */
    int fd = block ? open("/tmp/fill", O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0600) : -1;
    if (!block) err = ENOMEM;
    else if (fd < 0) err = errno;
    else {
        memset(block, 'x', chunk);
        while (max_mb <= 0 || written < max_mb) {
            size_t off = 0;
            while (off < chunk) {
                ssize_t w = write(fd, block + off, chunk - off);
                if (w < 0 && errno == EINTR) continue;
                if (w <= 0) {
                    err = w < 0 ? errno : EIO;
                    break;
                }
                off += (size_t)w;
            }
            if (off < chunk) break;
            written++;
        }
        close(fd);
        unlink("/tmp/fill");
    }
    sigaction(SIGXFSZ, &old, NULL);
    free(block);
    jbuf b = {0};
    jb_open(&b, '{');
    jb_kint(&b, "written_mb", written);
    jb_kint(&b, "errno", err);
    struct statfs fs;
    jb_kint(&b, "tmp_fs_magic", statfs("/tmp", &fs) == 0 ? (long long)fs.f_type : -(long long)errno);
    struct statvfs sv;
    jb_kint(&b, "tmp_total_kb", statvfs("/tmp", &sv) == 0 ? (long long)((unsigned long long)sv.f_blocks * sv.f_frsize / 1024) : -1);
    jb_close(&b, '}');
    respond_json(id, &b);
}

static void cmd_fdbomb(const char *id) {
    int *fds = NULL;
    size_t cap = 0;
    long long n = 0;
    int err = 0;
    for (;;) {
        if ((size_t)n == cap) {
            size_t nc = cap ? cap * 2 : 1024;
            int *nf = realloc(fds, nc * sizeof *fds);
            if (!nf) {
                err = ENOMEM;
                break;
            }
            fds = nf;
            cap = nc;
        }
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            err = errno;
            break;
        }
        fds[n++] = fd;
    }
    for (long long i = 0; i < n; i++) close(fds[i]);
    free(fds);
    jbuf b = {0};
    jb_open(&b, '{');
    jb_kint(&b, "opened", n);
    jb_kint(&b, "errno", err);
    jb_close(&b, '}');
    respond_json(id, &b);
}

/* ================================================================ per-user kernel counters */

/* struct mq_attr, without <mqueue.h> (the probe calls mq_open as a system call). */
struct mq_attr_probe {
    long mq_flags, mq_maxmsg, mq_msgsize, mq_curmsgs, reserved[4];
};

/* Signal queued (and kept queued, blocked) by the ucounts hog. */
#define UCOUNT_SIGNAL 40

/* Per-user kernel counters, issue 11 item 2. hog=1: take every inotify instance
 * (fs.inotify.max_user_instances) and queue signals until EAGAIN (RLIMIT_SIGPENDING, at most
 * 200,000), and KEEP them (the warm process holds them after answering). hog=0: try one inotify
 * instance and one queued signal (then release both) and report their errnos. Bounded: 128
 * descriptors and at most 200,000 small queued signals (a few MB of kernel memory). */
static void cmd_ucounts(const char *id, long long hog) {
    static int held_inotify = 0;
    static long long held_signals = 0;
    static int held_mqueues = 0, held_pipe_mb = 0;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, UCOUNT_SIGNAL);
    sigprocmask(SIG_BLOCK, &set, NULL);
    union sigval val = {.sival_int = 0};
    jbuf b = {0};
    jb_open(&b, '{');
    if (hog) {
        int ierr = 0, serr = 0;
        for (int i = 0; i < 4096; i++) {
            int fd = inotify_init1(IN_CLOEXEC);
            if (fd < 0) { ierr = errno; break; }
            held_inotify++;
        }
        for (long long i = 0; i < 200000; i++) {
            if (sigqueue(getpid(), UCOUNT_SIGNAL, val) < 0) { serr = errno; break; }
            held_signals++;
        }
        jb_kint(&b, "inotify_held", held_inotify);
        jb_kint(&b, "inotify_errno", ierr);
        jb_kint(&b, "signals_held", held_signals);
        jb_kint(&b, "signal_errno", serr);
        /* POSIX message queues: each of 10 x 8 KB messages charges ~80 KB of the uid's
         * RLIMIT_MSGQUEUE (819,200 bytes): about ten queues, then EMFILE. Kept open. */
        int merr = 0;
        for (int i = 0; i < 64; i++) {
            char name[32];
            snprintf(name, sizeof name, "/hearth-hog-%d", i);
            struct mq_attr_probe attr = {0, 10, 8192, 0, {0}};
            long q = syscall(SYS_mq_open, name + 1, O_CREAT | O_RDWR | O_CLOEXEC, 0600, &attr);
            if (q < 0) { merr = errno; break; }
            held_mqueues++;
        }
        /* Pipe buffers: 1 MB each (256 pages) until the uid's fs.pipe-user-pages-soft (16,384
         * pages) refuses more (EPERM); at most 200 pipes. Slots only: nothing is written. Kept. */
        int perr = 0;
        for (int i = 0; i < 200; i++) {
            int p[2];
            if (pipe2(p, O_CLOEXEC) < 0) { perr = errno; break; }
            if (fcntl(p[1], F_SETPIPE_SZ, 1 << 20) < 0) { perr = errno; close(p[0]); close(p[1]); break; }
            held_pipe_mb++;
        }
        jb_kint(&b, "mqueues_held", held_mqueues);
        jb_kint(&b, "mqueue_errno", merr);
        jb_kint(&b, "pipe_mb_held", held_pipe_mb);
        jb_kint(&b, "pipe_errno", perr);
    } else {
        int fd = inotify_init1(IN_CLOEXEC);
        int ierr = fd < 0 ? errno : 0;
        if (fd >= 0) close(fd);
        int serr = sigqueue(getpid(), UCOUNT_SIGNAL, val) < 0 ? errno : 0;
        if (!serr) {
            struct timespec zero = {0, 0};
            sigtimedwait(&set, NULL, &zero);
        }
        jb_kint(&b, "inotify_errno", ierr);
        jb_kint(&b, "signal_errno", serr);
        struct mq_attr_probe attr = {0, 10, 8192, 0, {0}};
        long q = syscall(SYS_mq_open, "hearth-neighbour", O_CREAT | O_RDWR | O_CLOEXEC, 0600, &attr);
        jb_kint(&b, "mqueue_errno", q < 0 ? errno : 0);
        if (q >= 0) { close((int)q); syscall(SYS_mq_unlink, "hearth-neighbour"); }
        int p[2], perr = 0, size = 0;
        if (pipe2(p, O_CLOEXEC) < 0) perr = errno;
        else {
            size = fcntl(p[1], F_GETPIPE_SZ);
            if (fcntl(p[1], F_SETPIPE_SZ, 1 << 20) < 0) perr = errno;
            close(p[0]);
            close(p[1]);
        }
        jb_kint(&b, "pipe_default_size", size);
        jb_kint(&b, "pipe_errno", perr);
    }
    jb_close(&b, '}');
    respond_json(id, &b);
}

/* ================================================================ network / misc */

/* Non-blocking connect with a 1 s timeout; returns 0 or an errno. */
static int tcp_try(const char *ip, int port) {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0) return errno;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, ip, &sa.sin_addr);
    int err = 0;
    if (connect(s, (struct sockaddr *)&sa, sizeof sa) < 0) {
        err = errno;
        if (err == EINPROGRESS) {
            struct pollfd p = {.fd = s, .events = POLLOUT};
            int r = poll(&p, 1, 1000);
            if (r == 0) err = ETIMEDOUT;
            else if (r < 0) err = errno;
            else {
                socklen_t l = sizeof err;
                if (getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &l) < 0) err = errno;
            }
        }
    }
    close(s);
    return err;
}

static int udp_try(const char *ip, int port) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return errno;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, ip, &sa.sin_addr);
    int err = 0;
    if (sendto(s, "hearth-probe", 12, 0, (struct sockaddr *)&sa, sizeof sa) < 0) err = errno;
    close(s);
    return err;
}

static void cmd_net(const char *id) {
    jbuf b = {0};
    jb_open(&b, '{');
    jb_kint(&b, "tcp_10_255_255_1_80", tcp_try("10.255.255.1", 80));
    jb_kint(&b, "tcp_1_1_1_1_53", tcp_try("1.1.1.1", 53));
    jb_kint(&b, "udp_1_1_1_1_53", udp_try("1.1.1.1", 53));
    jb_close(&b, '}');
    respond_json(id, &b);
}

static void cmd_connect(const char *id, const char *path) {
    int err = 0;
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa.sun_path) {
        err = ENAMETOOLONG;
    } else {
        memcpy(sa.sun_path, path, strlen(path));
        int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s < 0) err = errno;
        else {
            if (connect(s, (struct sockaddr *)&sa, sizeof sa) < 0) err = errno;
            close(s);
        }
    }
    jbuf b = {0};
    jb_open(&b, '{');
    jb_kstr(&b, "path", path);
    jb_kint(&b, "errno", err);
    jb_close(&b, '}');
    respond_json(id, &b);
}

/* Reads up to 4 KB of a file: {"path","content","errno"}. */
static void cmd_cat(const char *id, const char *path) {
    char buf[4096];
    ssize_t n = -1;
    int err = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) err = errno;
    else {
        n = read(fd, buf, sizeof buf);
        if (n < 0) err = errno;
        close(fd);
    }
    jbuf b = {0};
    jb_open(&b, '{');
    jb_kstr(&b, "path", path);
    if (n >= 0) jb_kstrn(&b, "content", buf, (size_t)n);
    else jb_knull(&b, "content");
    jb_kint(&b, "errno", err);
    jb_close(&b, '}');
    respond_json(id, &b);
}

/* What the sandbox's mount table tells about the host: mountinfo's root field is each mount's
 * path inside its source file system (issue 11, item 5). */
static void cmd_mountinfo(const char *id) {
    jbuf b = {0};
    jb_open(&b, '{');
    static const char *const files[][2] = {{"mountinfo", "/proc/self/mountinfo"}, {"mounts", "/proc/self/mounts"}};
    for (int i = 0; i < 2; i++) {
        size_t n = 0;
        char *text = slurp(files[i][1], &n);
        if (text) jb_kstrn(&b, files[i][0], text, n);
        else jb_knull(&b, files[i][0]);
        free(text);
    }
    char host[HOST_NAME_MAX + 1] = {0};
    if (gethostname(host, sizeof host - 1) == 0) jb_kstr(&b, "hostname", host);
    else jb_knull(&b, "hostname");
    jb_close(&b, '}');
    respond_json(id, &b);
}

static void cmd_context(const lc_invocation *inv) {
    jbuf b = {0};
    jb_open(&b, '{');
    jb_kstr(&b, "request_id", inv->request_id);
    jb_kint(&b, "deadline_ms", inv->deadline_ms);
    jb_kint(&b, "remaining_ms", inv->deadline_ms - now_ms(CLOCK_REALTIME));
    jb_kstr(&b, "function_arn", inv->function_arn);
    jb_kstr(&b, "trace_id", inv->trace_id);
    jb_kstr(&b, "content_type", inv->content_type);
    jb_close(&b, '}');
    respond_json(inv->request_id, &b);
}

static void cmd_big(const char *id, long long n) {
    if (n <= 0) {
        int st = lc_respond(id, "", 0);
        if (st != 202) fprintf(stderr, "hearth-probe: response for %s got status %d\n", id, st);
        return;
    }
    if (n == 1) { /* the only 1-byte JSON documents are digits */
        lc_respond(id, "0", 1);
        return;
    }
    char *buf = malloc((size_t)n);
    if (!buf) {
        lc_error(id, "Probe.OutOfMemory", "cannot allocate big response");
        return;
    }
    buf[0] = '"';
    memset(buf + 1, 'a', (size_t)n - 2);
    buf[n - 1] = '"';
    int st = lc_respond(id, buf, (size_t)n);
    if (st != 202) fprintf(stderr, "hearth-probe: big response for %s got status %d\n", id, st);
    free(buf);
}

static void cmd_log(const char *id, long long lines) {
    for (long long i = 0; i < lines; i++) {
        fprintf(stdout, "probe log line %lld\n", i);
        fprintf(stderr, "probe err line %lld\n", i);
    }
    fflush(stdout);
    fflush(stderr);
    respond_int(id, "logged", lines);
}

/* Processes outside the sandbox, by their host pid: signal, ptrace, read memory. */
static void cmd_outside(const char *id, long long pid) {
    jbuf b = {0};
    jb_open(&b, '{');
    jb_kint(&b, "pid", pid);
    jb_kint(&b, "kill0_errno", kill((pid_t)pid, 0) < 0 ? errno : 0);
    pid_t child = fork();
    if (child == 0) _exit((int)(ret_errno(syscall(SYS_ptrace, PTRACE_ATTACH, (pid_t)pid, NULL, NULL)) & 0xff));
    int st = 0;
    if (child > 0) waitpid(child, &st, 0);
    jb_kint(&b, "ptrace_errno", child > 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    char buf[16];
    struct iovec local = {.iov_base = buf, .iov_len = sizeof buf};
    struct iovec remote = {.iov_base = (void *)0x400000, .iov_len = sizeof buf};
    jb_kint(&b, "process_vm_readv_errno", ret_errno(syscall(SYS_process_vm_readv, (pid_t)pid, &local, 1UL, &remote, 1UL, 0UL)));
    jb_close(&b, '}');
    respond_json(id, &b);
}

/* Runs a (setuid) program with --euid and reports the ids it printed. */
static void cmd_suid(const char *id, const char *path) {
    int fds[2];
    char out[128] = "";
    int err = 0, status = -1;
    if (pipe2(fds, O_CLOEXEC) < 0) err = errno;
    else {
        pid_t child = fork();
        if (child == 0) {
            dup2(fds[1], 1);
            execl(path, path, "--euid", (char *)NULL);
            _exit(127);
        }
        close(fds[1]);
        ssize_t n = child > 0 ? read(fds[0], out, sizeof out - 1) : -1;
        if (n > 0) out[n] = '\0';
        close(fds[0]);
        int st = 0;
        if (child > 0 && waitpid(child, &st, 0) > 0 && WIFEXITED(st)) status = WEXITSTATUS(st);
        if (child < 0) err = errno;
    }
    jbuf b = {0};
    jb_open(&b, '{');
    jb_kstr(&b, "path", path);
    jb_kstr(&b, "output", out);
    jb_kint(&b, "status", status);
    jb_kint(&b, "errno", err);
    jb_close(&b, '}');
    respond_json(id, &b);
}

/* Opens n connections to the Runtime API and holds them: how many does the supervisor close? */
/* Queues data on loopback TCP connections inside the sandbox without reading it: each pair's
 * writer writes 64 KB chunks until EAGAIN (or a short write), up to max_mb in all and at most
 * 200 pairs. Reports how much the kernel accepted: socket buffers, which cgroup v1 charges only
 * to memory.kmem.tcp. Everything is closed before the answer. */
static void cmd_tcpfill(const char *id, long long max_mb) {
    if (max_mb <= 0 || max_mb > 2048) max_mb = 512;
    const long long cap = max_mb << 20;
    static char chunk[65536];
    memset(chunk, 'x', sizeof chunk);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    int err = 0;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(lfd, 256) < 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &al) < 0)
        err = errno;
    int fds[400];
    int nfds = 0, pairs = 0, stalled = 0;
    long long queued = 0;
    while (!err && queued < cap && pairs < 200) {
        int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c < 0) { err = errno; break; }
        if (connect(c, (struct sockaddr *)&a, sizeof a) < 0) { err = errno; close(c); break; }
        int s = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (s < 0) { err = errno; close(c); break; }
        fds[nfds++] = c;
        fds[nfds++] = s;
        pairs++;
        fcntl(c, F_SETFL, O_NONBLOCK);
        long long here = 0;
        for (;;) {
            long long left = cap - queued;
            if (left <= 0) break;
            ssize_t w = write(c, chunk, left < (long long)sizeof chunk ? (size_t)left : sizeof chunk);
            if (w <= 0) break;
            queued += w;
            here += w;
        }
        /* A pair that takes (almost) nothing: the kernel refuses more socket memory. */
        if (here < 65536 && ++stalled >= 8) break;
    }
    for (int i = 0; i < nfds; i++) close(fds[i]);
    if (lfd >= 0) close(lfd);
    jbuf b = {0};
    jb_open(&b, '{');
    jb_kint(&b, "queued_mb", queued >> 20);
    jb_kint(&b, "pairs", pairs);
    jb_kint(&b, "stalled_pairs", stalled);
    jb_kint(&b, "errno", err);
    jb_close(&b, '}');
    respond_json(id, &b);
}

/* Socket buffers other than TCP (issue 11 item 3): queue up to max_mb without reading on
 * loopback UDP (one sender, up to 900 receivers; counted at the receivers with SO_MEMINFO, as
 * loopback UDP drops what a full receiver cannot take), unix datagram or unix stream socket
 * pairs (up to 450; counted as written). Every buffer asks for the most SO_RCVBUF/SO_SNDBUF
 * allow (net.core.*mem_max, about 416 KB each), so without memory accounting ~180-370 MB could
 * sit in the kernel for one 128 MB instance. Bounded: 1,000 descriptors, max_mb (<= 1024). */
#ifndef SO_MEMINFO
#define SO_MEMINFO 55
#endif
static void cmd_sockfill(const char *id, const char *kind, long long max_mb) {
    if (max_mb <= 0 || max_mb > 1024) max_mb = 512;
    const long long cap = max_mb << 20;
    static char chunk[32768];
    memset(chunk, 'x', sizeof chunk);
    int fds[1000];
    int nfds = 0, sockets = 0, err = 0, stalled = 0;
    long long queued = 0;
    int big = 1 << 30;
    if (!strcmp(kind, "udp")) {
        int tx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (tx < 0) err = errno;
        else {
            fds[nfds++] = tx;
            setsockopt(tx, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
        }
        while (!err && nfds < 1000 && queued < cap) {
            int rx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
            if (rx < 0) { err = errno; break; }
            fds[nfds++] = rx;
            setsockopt(rx, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
            struct sockaddr_in a;
            memset(&a, 0, sizeof a);
            a.sin_family = AF_INET;
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            socklen_t al = sizeof a;
            if (bind(rx, (struct sockaddr *)&a, sizeof a) < 0 || getsockname(rx, (struct sockaddr *)&a, &al) < 0) { err = errno; break; }
            sockets++;
            uint32_t before[9] = {0}, after[9] = {0};
            socklen_t ml = sizeof before;
            getsockopt(rx, SOL_SOCKET, SO_MEMINFO, before, &ml);
            /* Until the receiver stops growing (it is full, or the kernel refused the charge). */
            uint32_t last = 0;
            for (int i = 0; i < 64; i++) {
                if (sendto(tx, chunk, sizeof chunk, 0, (struct sockaddr *)&a, sizeof a) < 0 && errno != EAGAIN && errno != ENOBUFS) { err = errno; break; }
                ml = sizeof after;
                getsockopt(rx, SOL_SOCKET, SO_MEMINFO, after, &ml);
                if (i > 0 && after[0] == last) break;
                last = after[0];
            }
            long long here = (long long)after[0] - before[0];
            queued += here;
            if (here < 32768 && ++stalled >= 8) break;
        }
    } else {
        int type = !strcmp(kind, "unix_dgram") ? SOCK_DGRAM : SOCK_STREAM;
        while (!err && nfds + 2 <= 900 && queued < cap) {
            int p[2];
            if (socketpair(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, p) < 0) { err = errno; break; }
            fds[nfds++] = p[0];
            fds[nfds++] = p[1];
            sockets++;
            setsockopt(p[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
            setsockopt(p[1], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
            long long here = 0;
            for (;;) {
                long long left = cap - queued;
                if (left <= 0) break;
                ssize_t w = send(p[0], chunk, left < (long long)sizeof chunk ? (size_t)left : sizeof chunk, MSG_NOSIGNAL);
                if (w <= 0) {
                    if (w < 0 && errno != EAGAIN && errno != ENOBUFS && errno != ENOMEM) err = errno;
                    break;
                }
                queued += w;
                here += w;
            }
            if (here < 32768 && ++stalled >= 8) break;
        }
    }
    for (int i = 0; i < nfds; i++) close(fds[i]);
    jbuf b = {0};
    jb_open(&b, '{');
    jb_kint(&b, "queued_mb", queued >> 20);
    jb_kint(&b, "sockets", sockets);
    jb_kint(&b, "stalled", stalled);
    jb_kint(&b, "errno", err);
    jb_close(&b, '}');
    respond_json(id, &b);
}

/* What an earlier invocation left behind, then leave traces for the next one: a file in /tmp,
 * a detached process that sleeps (at most 20 s), and a marker in this process's memory. */
static void cmd_carryover(const char *id) {
    static long long memory_marker = 0;
    int saw_file = access("/tmp/hearth-carryover", F_OK) == 0;
    long long pids = 0;
    DIR *d = opendir("/proc");
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            const char *s = de->d_name;
            if (!*s) continue;
            while (*s >= '0' && *s <= '9') s++;
            if (*s == '\0') pids++;
        }
        closedir(d);
    }
    long long saw_memory = memory_marker;
    memory_marker = 0x5eed;
    int fd = open("/tmp/hearth-carryover", O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    if (fd >= 0) {
        (void)!write(fd, "secret\n", 7);
        close(fd);
    }
    fflush(NULL);
    pid_t p = fork();
    if (p == 0) {
        setsid();
        if (fork() == 0) { sleep_ms(20000); _exit(0); }
        _exit(0);
    }
    if (p > 0) waitpid(p, NULL, 0);
    jbuf b = {0};
    jb_open(&b, '{');
    jb_kbool(&b, "saw_file", saw_file);
    jb_kint(&b, "visible_pids", pids);
    jb_kint(&b, "saw_memory", saw_memory);
    jb_close(&b, '}');
    respond_json(id, &b);
}

static void cmd_conns(const char *id, long long n) {
    const char *sock = getenv("HEARTH_RUNTIME_SOCKET");
    if (n > 256) n = 256;
    int fds[256];
    long long opened = 0, refused = 0, closed = 0;
    for (long long i = 0; i < n; i++) {
        int s;
        if (sock && *sock) {
            struct sockaddr_un sa;
            memset(&sa, 0, sizeof sa);
            sa.sun_family = AF_UNIX;
            strncpy(sa.sun_path, sock, sizeof sa.sun_path - 1);
            s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (s >= 0 && connect(s, (struct sockaddr *)&sa, sizeof sa) < 0) { close(s); s = -1; }
        } else {
            struct sockaddr_in sa;
            memset(&sa, 0, sizeof sa);
            sa.sin_family = AF_INET;
            sa.sin_port = htons(9001);
            inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
            s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (s >= 0 && connect(s, (struct sockaddr *)&sa, sizeof sa) < 0) { close(s); s = -1; }
        }
        if (s < 0) refused++;
        else fds[opened++] = s;
    }
    sleep_ms(500);
    for (long long i = 0; i < opened; i++) {
        struct pollfd p = {.fd = fds[i], .events = POLLIN};
        char c;
        if (poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR) || read(fds[i], &c, 1) <= 0)) closed++;
        close(fds[i]);
    }
    jbuf b = {0};
    jb_open(&b, '{');
    jb_kint(&b, "requested", n);
    jb_kint(&b, "opened", opened);
    jb_kint(&b, "refused", refused);
    jb_kint(&b, "closed_by_server", closed);
    jb_close(&b, '}');
    respond_json(id, &b);
}


/* Issue 11 item 1: a hostile client of the function's own Runtime API (127.0.0.1:9001, as the
 * issue's attacker used it). mode "noread": pipeline small requests on each connection and never
 * read the answers; "drain": pipeline and read every answer (the CPU attack); "body": start a
 * 19 MB POST for a request id that does not exist and keep sending its body; "churn": connect,
 * send one bad request, close, again. conns <= 7 (the supervisor keeps 8 per instance, one is the
 * runtime's own), ms <= 10,000. detach=1: a forked, detached child floods for ms after this
 * invocation has answered (work done while the instance is idle and unbilled); the parent
 * answers at once. Reports bytes sent and received, answers read and connections the server
 * closed. */
static int rapi_connect(void) {
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(9001);
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) return -1;
    if (connect(s, (struct sockaddr *)&sa, sizeof sa) < 0) { close(s); return -1; }
    fcntl(s, F_SETFL, O_NONBLOCK);
    return s;
}

static void apiflood_run(const char *mode, int conns, long long ms, long long out[4]) {
    static const char req[] = "GET /x HTTP/1.1\r\nHost: x\r\n\r\n";
    static char block[28 * 512];
    static char junk[65536];
    static char sink[65536];
    for (size_t i = 0; i + sizeof req - 1 <= sizeof block; i += sizeof req - 1) memcpy(block + i, req, sizeof req - 1);
    memset(junk, 'j', sizeof junk);
    int body = !strcmp(mode, "body"), drain = !strcmp(mode, "drain"), churn = !strcmp(mode, "churn");
    int fds[8];
    long long sent = 0, received = 0, closed = 0, answers = 0;
    if (conns < 1) conns = 1;
    if (conns > 7) conns = 7;
    if (ms > 10000) ms = 10000;
    long long until = now_ms(CLOCK_MONOTONIC) + ms;
    if (churn) {
        while (now_ms(CLOCK_MONOTONIC) < until) {
            int s = rapi_connect();
            if (s < 0) { sleep_ms(1); continue; }
            fcntl(s, F_SETFL, 0);
            struct timeval tv = {0, 200000};
            setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            if (write(s, "BAD\r\n\r\n", 7) > 0) sent += 7;
            ssize_t n = read(s, sink, sizeof sink);
            if (n > 0) { received += n; answers++; }
            close(s);
            closed++;
        }
        out[0] = sent; out[1] = received; out[2] = answers; out[3] = closed;
        return;
    }
    int n = 0;
    for (int i = 0; i < conns; i++) {
        int s = rapi_connect();
        if (s < 0) continue;
        if (body) {
            static const char head[] = "POST /2018-06-01/runtime/invocation/no-such-request/response HTTP/1.1\r\n"
                                       "Host: x\r\nContent-Length: 19000000\r\n\r\n";
            if (write(s, head, sizeof head - 1) > 0) sent += (long long)sizeof head - 1;
        }
        fds[n++] = s;
    }
    int dead[8] = {0};
    while (now_ms(CLOCK_MONOTONIC) < until) {
        struct pollfd p[8];
        for (int i = 0; i < n; i++) p[i] = (struct pollfd){.fd = dead[i] ? -1 : fds[i], .events = POLLOUT | (drain || body ? POLLIN : 0)};
        if (poll(p, (nfds_t)n, 50) < 0) break;
        for (int i = 0; i < n; i++) {
            if (dead[i]) continue;
            if (p[i].revents & POLLIN) {
                ssize_t r = read(fds[i], sink, sizeof sink);
                if (r > 0) {
                    received += r;
                    for (ssize_t k = 0; k + 4 < r; k++) if (!memcmp(sink + k, "HTTP", 4)) answers++;
                } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                    dead[i] = 1;
                    closed++;
                    continue;
                }
            }
            if (p[i].revents & (POLLHUP | POLLERR)) { dead[i] = 1; closed++; continue; }
            if (p[i].revents & POLLOUT) {
                ssize_t w = body ? send(fds[i], junk, sizeof junk, MSG_NOSIGNAL) : send(fds[i], block, sizeof block, MSG_NOSIGNAL);
                if (w > 0) sent += w;
                else if (w < 0 && errno != EAGAIN && errno != EINTR) { dead[i] = 1; closed++; }
            }
        }
    }
    for (int i = 0; i < n; i++) close(fds[i]);
    out[0] = sent; out[1] = received; out[2] = answers; out[3] = closed;
}

static void cmd_apiflood(const char *id, const char *mode, long long conns, long long ms, long long detach) {
    long long out[4] = {0, 0, 0, 0};
    if (detach) {
        fflush(NULL);
        pid_t p = fork();
        if (p == 0) {
            setsid();
            if (fork() == 0) { apiflood_run(mode, (int)conns, ms, out); _exit(0); }
            _exit(0);
        }
        if (p > 0) waitpid(p, NULL, 0);
    } else {
        apiflood_run(mode, (int)conns, ms, out);
    }
    jbuf b = {0};
    jb_open(&b, '{');
    jb_kstr(&b, "mode", mode);
    jb_kint(&b, "detached", detach);
    jb_kint(&b, "sent", out[0]);
    jb_kint(&b, "received", out[1]);
    jb_kint(&b, "answers", out[2]);
    jb_kint(&b, "closed_by_server", out[3]);
    jb_close(&b, '}');
    respond_json(id, &b);
}


/* ================================================================ main loop */

static void handle(const lc_invocation *inv) {
    const char *id = inv->request_id;
    const char *body = inv->body ? inv->body : "";
    size_t len = inv->body ? inv->body_len : 0;
    char cmd[128] = "echo";
    if (!json_get_str(body, len, "cmd", cmd, sizeof cmd)) strcpy(cmd, "echo");
    long long v = 0;
    /* An event with a "mark" is logged whole, on one line, before anything else: tests count
     * runs (and read the records destinations receive) from the function's own logs. */
    char mark[128];
    if (json_get_str(body, len, "stamp", mark, sizeof mark)) {
        /* For scripts/bench-async: when the handler started, wall clock, in microseconds. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        printf("probe-start %s %lld\n", mark, (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000);
        fflush(stdout);
    }
    if (json_get_str(body, len, "mark", mark, sizeof mark)) {
        printf("probe-event %.*s\n", (int)len, body);
        fflush(stdout);
    }

    if (!strcmp(cmd, "echo")) {
        int st = lc_respond(id, body, len);
        if (st != 202) fprintf(stderr, "hearth-probe: echo response got status %d\n", st);
    } else if (!strcmp(cmd, "facts")) {
        cmd_facts(id);
    } else if (!strcmp(cmd, "syscalls")) {
        cmd_syscalls(id);
    } else if (!strcmp(cmd, "memhog")) {
        json_get_int(body, len, "mb", &v);
        cmd_memhog(id, v);
    } else if (!strcmp(cmd, "forkbomb")) {
        json_get_int(body, len, "hold_ms", &v);
        cmd_forkbomb(id, v);
    } else if (!strcmp(cmd, "sleep")) {
        json_get_int(body, len, "ms", &v);
        sleep_ms(v);
        respond_int(id, "slept_ms", v);
    } else if (!strcmp(cmd, "spin")) {
        json_get_int(body, len, "ms", &v);
        long long until = now_ms(CLOCK_MONOTONIC) + v;
        volatile unsigned long sink = 0;
        while (now_ms(CLOCK_MONOTONIC) < until) sink++;
        respond_int(id, "spun_ms", v);
    } else if (!strcmp(cmd, "exit")) {
        json_get_int(body, len, "code", &v);
        fflush(NULL);
        _exit((int)v);
    } else if (!strcmp(cmd, "signal")) {
        json_get_int(body, len, "sig", &v);
        fflush(NULL);
        raise((int)v);
        /* Still alive (signal ignored, handled or invalid): say so rather than hang. */
        jbuf b = {0};
        jb_open(&b, '{');
        jb_kint(&b, "signal", v);
        jb_kbool(&b, "survived", 1);
        jb_close(&b, '}');
        respond_json(id, &b);
    } else if (!strcmp(cmd, "error")) {
        lc_error(id, "Probe.Failure", "requested failure");
    } else if (!strcmp(cmd, "big")) {
        json_get_int(body, len, "bytes", &v);
        cmd_big(id, v);
    } else if (!strcmp(cmd, "tmpfill")) {
        json_get_int(body, len, "max_mb", &v); /* optional safety cap, 0 = until error */
        cmd_tmpfill(id, v);
    } else if (!strcmp(cmd, "fdbomb")) {
        cmd_fdbomb(id);
    } else if (!strcmp(cmd, "log")) {
        json_get_int(body, len, "lines", &v);
        cmd_log(id, v);
    } else if (!strcmp(cmd, "net")) {
        cmd_net(id);
    } else if (!strcmp(cmd, "foreign")) {
        /* Answer an invocation this instance was never given: must get 400 InvalidRequestID. */
        char other[256] = "", path[512];
        json_get_str(body, len, "id", other, sizeof other);
        snprintf(path, sizeof path, "/2018-06-01/runtime/invocation/%s/response", other);
        int st = lc_post_raw(path, NULL, "{}", 2);
        respond_int(id, "status", st);
    } else if (!strcmp(cmd, "count")) {
        /* State kept in memory between invocations: proves warm reuse. */
        static long long invocations = 0;
        respond_int(id, "count", ++invocations);
    } else if (!strcmp(cmd, "context")) {
        cmd_context(inv);
    } else if (!strcmp(cmd, "mountinfo")) {
        cmd_mountinfo(id);
    } else if (!strcmp(cmd, "cat")) {
        char path[PATH_MAX] = "";
        json_get_str(body, len, "path", path, sizeof path);
        cmd_cat(id, path);
    } else if (!strcmp(cmd, "outside")) {
        json_get_int(body, len, "pid", &v);
        cmd_outside(id, v);
    } else if (!strcmp(cmd, "tcp")) {
        json_get_int(body, len, "port", &v);
        respond_int(id, "errno", tcp_try("127.0.0.1", (int)v));
    } else if (!strcmp(cmd, "suid")) {
        char path[512] = "";
        json_get_str(body, len, "path", path, sizeof path);
        cmd_suid(id, path);
    } else if (!strcmp(cmd, "tcpfill")) {
        json_get_int(body, len, "max_mb", &v);
        cmd_tcpfill(id, v);
    } else if (!strcmp(cmd, "sockfill")) {
        char kind[32] = "udp";
        json_get_str(body, len, "kind", kind, sizeof kind);
        json_get_int(body, len, "max_mb", &v);
        cmd_sockfill(id, kind, v);
    } else if (!strcmp(cmd, "carryover")) {
        cmd_carryover(id);
    } else if (!strcmp(cmd, "conns")) {
        json_get_int(body, len, "n", &v);
        cmd_conns(id, v);
    } else if (!strcmp(cmd, "apiflood")) {
        char mode[32] = "noread";
        long long conns = 7, ms = 2000, detach = 0;
        json_get_str(body, len, "mode", mode, sizeof mode);
        json_get_int(body, len, "conns", &conns);
        json_get_int(body, len, "ms", &ms);
        json_get_int(body, len, "detach", &detach);
        cmd_apiflood(id, mode, conns, ms, detach);
    } else if (!strcmp(cmd, "ucounts")) {
        json_get_int(body, len, "hog", &v);
        cmd_ucounts(id, v);
    } else if (!strcmp(cmd, "connect")) {
        char path[512] = "";
        json_get_str(body, len, "path", path, sizeof path);
        cmd_connect(id, path);
    } else {
        lc_error(id, "Probe.UnknownCommand", cmd);
    }
}

int main(int argc, char **argv) {
    const char *e;
    /* Run as a (setuid) helper by the suid command: print the ids we got, nothing else. */
    if (argc > 1 && !strcmp(argv[1], "--euid")) {
        printf("euid=%d egid=%d uid=%d\n", (int)geteuid(), (int)getegid(), (int)getuid());
        return 0;
    }
    if ((e = getenv("PROBE_USE_TCP")) && *e) unsetenv("HEARTH_RUNTIME_SOCKET");
    if ((e = getenv("PROBE_EXIT_AT_INIT")) && *e) exit(atoi(e));
    if ((e = getenv("PROBE_INIT_ERROR"))) {
        lc_init_error("Probe.InitError", e);
        exit(3);
    }
    if ((e = getenv("PROBE_SLEEP_AT_INIT_MS")) && *e) sleep_ms(atoll(e));

    for (;;) {
        lc_invocation inv;
        if (lc_next(&inv) < 0) {
            fprintf(stderr, "hearth-probe: /next failed, exiting\n");
            return 1;
        }
        handle(&inv);
        lc_invocation_free(&inv);
    }
}
