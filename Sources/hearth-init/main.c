// hearth-init: the sandbox's pid 1, exec'd by the set-up child once the sandbox is assembled,
// so that pid 1 is a small static program and not a copy of the supervisor (whose pages hold
// other tenants' data) and /proc/1/cmdline names only "hearth-init".
//
// It runs under the sandbox's seccomp filter, as uid 993 with no capabilities. Its inputs:
//   fd 3  the sync socket (SOCK_SEQPACKET) to the supervisor, hearth_msg frames
//   fd 4  the function's stdout, fd 5 its stderr (the same descriptor twice when they are one)
//   HEARTH_INIT_PATH, HEARTH_INIT_CWD, HEARTH_INIT_HOLD ("1": a pre-forked shell, wait for the
//   supervisor's go), HEARTH_INIT_PREINIT ("1", with HOLD: a pre-initialised runtime, below),
//   HEARTH_INIT_ARGC and HEARTH_INIT_ARG<i> in its environment; the rest of the
//   environment is the function's. /proc/1/environ is unreadable in the sandbox (not dumpable).
// A pre-initialised runtime (ADR 0018): the function is exec'd at once, before the launch, with
// fd 3 one end of a socket pair (the launch channel). It writes one byte when it has done what
// it does ahead (an interpreter importing its runtime client, never the function's code) and
// then reads one: the init tells the supervisor it is ready only after that first byte (or EOF),
// and passes the supervisor's go on as the second. An exec failure is reported at the launch.
// It forks the function (pid 2) with vfork and execve, reports the exec, reaps every process and
// reports the function's wait status; it exits when the supervisor's end of fd 3 closes.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

// The frame of CHearthSpawn's hearth_msg (hearth_spawn.h): five int32s. Kept in step by hand;
// the kinds and the two steps used here have the same numbers there.
typedef struct { int32_t kind, step, err, detail, status; } msg_t;
enum { MSG_ERROR = 1, MSG_EXEC_OK = 3, MSG_EXIT = 4, MSG_READY = 5 };
// hearth_step values for HEARTH_STEP_WAIT_LAUNCH .. HEARTH_STEP_EXEC, passed in the environment
// by the supervisor so that this file needs no copy of the enum.
static int step_wait_launch, step_fork, step_chdir, step_stdio, step_exec;

enum { SYNC_FD = 3, OUT_FD = 4, ERR_FD = 5 };

static void send_msg(int kind, int step, int err, int status) {
    msg_t m = {.kind = kind, .step = step, .err = err, .detail = -1, .status = status};
    while (send(SYNC_FD, &m, sizeof m, MSG_NOSIGNAL) < 0 && errno == EINTR) {}
}

static __attribute__((noreturn)) void fail(int step) {
    send_msg(MSG_ERROR, step, errno, 0);
    _exit(126);
}

// A pre-forked shell: ready, then one byte to go, or EOF (discarded: exit quietly). With
// `runtime` (a pre-initialised runtime, already running) the init also watches it: if it dies
// while the shell is held, the init exits, so the supervisor sees the shell gone and never
// hands it out (an invocation would only meet a dead runtime).
static void wait_for_launch(pid_t runtime, int sigfd) {
    send_msg(MSG_READY, 0, 0, 0);
    if (runtime > 0) {
        struct pollfd fds[2] = {{.fd = SYNC_FD, .events = POLLIN}, {.fd = sigfd, .events = POLLIN}};
        for (;;) {
            int status;
            if (waitpid(runtime, &status, WNOHANG) == runtime) _exit(0);
            if (poll(fds, 2, -1) < 0 && errno != EINTR) fail(step_wait_launch);
            if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) break;
            if (fds[1].revents & POLLIN) {
                struct signalfd_siginfo si;
                while (read(sigfd, &si, sizeof si) > 0) {}
            }
        }
    }
    char go;
    ssize_t n;
    do { n = read(SYNC_FD, &go, 1); } while (n < 0 && errno == EINTR);
    if (n == 0) _exit(0);
    if (n < 0) fail(step_wait_launch);
}

static int env_int(const char *name, int fallback) {
    const char *v = getenv(name);
    return v && *v ? atoi(v) : fallback;
}

int main(void) {
    // exec made this process dumpable again: first of all, not any more.
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    step_wait_launch = env_int("HEARTH_INIT_STEP_WAIT_LAUNCH", 0);
    step_fork = env_int("HEARTH_INIT_STEP_FORK", 0);
    step_chdir = env_int("HEARTH_INIT_STEP_CHDIR", 0);
    step_stdio = env_int("HEARTH_INIT_STEP_STDIO", 0);
    step_exec = env_int("HEARTH_INIT_STEP_EXEC", 0);
    fcntl(SYNC_FD, F_SETFD, FD_CLOEXEC);
    fcntl(OUT_FD, F_SETFD, FD_CLOEXEC);
    fcntl(ERR_FD, F_SETFD, FD_CLOEXEC);

    const char *path = getenv("HEARTH_INIT_PATH");
    const char *cwd = getenv("HEARTH_INIT_CWD");
    int hold = env_int("HEARTH_INIT_HOLD", 0);
    int preinit = hold && env_int("HEARTH_INIT_PREINIT", 0);
    int argc = env_int("HEARTH_INIT_ARGC", 0);
    if (path == NULL || cwd == NULL || argc < 1 || argc > 100000) { errno = EINVAL; fail(step_exec); }
    char **argv = calloc((size_t)argc + 1, sizeof *argv);
    if (argv == NULL) fail(step_fork);
    for (int i = 0; i < argc; i++) {
        char name[32] = "HEARTH_INIT_ARG";
        int n = i, len = 0;
        char digits[12];
        do { digits[len++] = (char)('0' + n % 10); n /= 10; } while (n > 0);
        size_t pos = strlen(name);
        while (len > 0) name[pos++] = digits[--len];
        name[pos] = '\0';
        const char *v = getenv(name);
        argv[i] = strdup(v ? v : "");
        if (argv[i] == NULL) fail(step_fork);
    }
    path = strdup(path);
    cwd = strdup(cwd);
    if (path == NULL || cwd == NULL) fail(step_fork);
    // The function's environment: ours without the HEARTH_INIT_ entries.
    extern char **environ;
    size_t nenv = 0;
    for (char **e = environ; *e; e++) nenv++;
    char **envp = calloc(nenv + 1, sizeof *envp);
    if (envp == NULL) fail(step_fork);
    size_t k = 0;
    for (char **e = environ; *e; e++) {
        if (strncmp(*e, "HEARTH_INIT_", 12) != 0) envp[k++] = *e;
    }
    envp[k] = NULL;

    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    int sigfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sigfd < 0) fail(step_fork);
    int exec_pipe[2];
    if (pipe2(exec_pipe, O_CLOEXEC) < 0) fail(step_fork);

    // The launch channel of a pre-initialised runtime: [0] the init's end, [1] the function's fd 3.
    int channel[2] = {-1, -1};
    if (preinit && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, channel) < 0) fail(step_fork);
    if (hold && !preinit) wait_for_launch(0, sigfd);

    pid_t function = vfork();
    if (function < 0) fail(step_fork);
    if (function == 0) {
        int step = step_stdio;
        int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(OUT_FD, 1) < 0 || dup2(ERR_FD, 2) < 0) goto failed;
        // dup2 clears close-on-exec: the launch channel is the only descriptor beyond 0-2.
        if (channel[1] >= 0 && dup2(channel[1], SYNC_FD) < 0) goto failed;
        step = step_chdir;
        if (chdir(cwd) < 0) goto failed;
        setsid();
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        step = step_exec;
        execve(path, argv, envp);
    failed:;
        int report[2] = {step, errno};
        while (write(exec_pipe[1], report, sizeof report) < 0 && errno == EINTR) {}
        _exit(127);
    }
    close(exec_pipe[1]);
    close(OUT_FD);
    close(ERR_FD);
    int report[2];
    ssize_t n;
    do { n = read(exec_pipe[0], report, sizeof report); } while (n < 0 && errno == EINTR);
    close(exec_pipe[0]);
    if (preinit) {
        // The runtime initialises ahead; ready once it says so (or has gone: EOF), then the go.
        close(channel[1]);
        char byte = 1;
        if (n != (ssize_t)sizeof report) {
            ssize_t r;
            do { r = read(channel[0], &byte, 1); } while (r < 0 && errno == EINTR);
        }
        // An exec that failed is reported at the launch: nothing to watch then.
        wait_for_launch(n == (ssize_t)sizeof report ? 0 : function, sigfd);
        while (send(channel[0], &byte, 1, MSG_NOSIGNAL) < 0 && errno == EINTR) {}
        close(channel[0]);
    }
    if (n == (ssize_t)sizeof report) {
        errno = report[1];
        send_msg(MSG_ERROR, report[0], report[1], 0);
        _exit(126);
    }
    send_msg(MSG_EXEC_OK, 0, 0, 0);

    // Reap everything; report the function's status and exit (the kernel then kills what is
    // left in the pid namespace); exit as well when the supervisor goes away.
    struct pollfd fds[2] = {{.fd = sigfd, .events = POLLIN}, {.fd = SYNC_FD, .events = POLLIN}};
    for (;;) {
        int status;
        pid_t pid;
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
            if (pid == function) {
                send_msg(MSG_EXIT, 0, 0, status);
                _exit(0);
            }
        }
        if (poll(fds, 2, -1) < 0 && errno != EINTR) _exit(125);
        if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) _exit(0);
        if (fds[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(sigfd, &si, sizeof si) > 0) {}
        }
    }
}
