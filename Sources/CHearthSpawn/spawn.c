// The sandbox child: clone into new namespaces, assemble the root, drop every privilege,
// load the seccomp filter and exec the function's bootstrap under a tiny init.
//
// Everything here after the clone runs in a copy of a multithreaded process: only
// async-signal-safe calls, no malloc, no stdio, no locks. A failure is reported to the
// supervisor as (step, errno, detail) over the sync socket, and the child exits.
#define _GNU_SOURCE
#include "hearth_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/poll.h>
#include <sys/prctl.h>
#include <linux/securebits.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/statvfs.h>
#include <sys/vfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <grp.h>
#include <unistd.h>

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

static const char *const step_names[HEARTH_STEP_COUNT] = {
    [HEARTH_STEP_NONE] = "none",
    [HEARTH_STEP_CLONE] = "clone",
    [HEARTH_STEP_WAIT_PARENT] = "wait for supervisor",
    [HEARTH_STEP_CGROUP_NS] = "unshare cgroup namespace",
    [HEARTH_STEP_MOUNT_PRIVATE] = "make / private",
    [HEARTH_STEP_HOSTNAME] = "sethostname",
    [HEARTH_STEP_LOOPBACK] = "bring up lo",
    [HEARTH_STEP_LISTEN] = "listen on 127.0.0.1",
    [HEARTH_STEP_SEND_LISTENER] = "send listener to supervisor",
    [HEARTH_STEP_MOUNT_ROOT] = "mount runtime image",
    [HEARTH_STEP_MOUNT_BIND] = "bind mount",
    [HEARTH_STEP_MOUNT_TMP] = "mount /tmp",
    [HEARTH_STEP_MOUNT_DEV] = "mount /dev",
    [HEARTH_STEP_MOUNT_PROC] = "mount /proc",
    [HEARTH_STEP_MASK_PROC] = "mask /proc path",
    [HEARTH_STEP_PIVOT_ROOT] = "pivot_root",
    [HEARTH_STEP_REMOUNT_ROOT_RO] = "remount / read-only",
    [HEARTH_STEP_RLIMIT] = "setrlimit",
    [HEARTH_STEP_SETGROUPS] = "setgroups",
    [HEARTH_STEP_SETGID] = "setresgid",
    [HEARTH_STEP_SETUID] = "setresuid",
    [HEARTH_STEP_DROP_CAPS] = "drop capabilities",
    [HEARTH_STEP_NO_NEW_PRIVS] = "no_new_privs",
    [HEARTH_STEP_SECCOMP] = "load seccomp filter",
    [HEARTH_STEP_EXEC_INIT] = "exec hearth-init",
    [HEARTH_STEP_WAIT_LAUNCH] = "wait for launch",
    [HEARTH_STEP_FORK] = "fork function process",
    [HEARTH_STEP_CHDIR] = "chdir",
    [HEARTH_STEP_STDIO] = "set up stdio",
    [HEARTH_STEP_EXEC] = "execve",
    [HEARTH_STEP_USERNS] = "unshare user namespace as the instance's uid",
    [HEARTH_STEP_WAIT_ID_MAPS] = "wait for the id maps",
    [HEARTH_STEP_MOUNT_RUN] = "mount the runtime socket's tmpfs",
    [HEARTH_STEP_RUNTIME_SOCKET] = "listen on the runtime socket",
};

const char *hearth_step_name(int step) {
    if (step < 0 || step >= HEARTH_STEP_COUNT || step_names[step] == NULL) return "unknown step";
    return step_names[step];
}

// Device nodes bind-mounted from the host into the sandbox's /dev.
static const char *const dev_nodes[] = {"null", "zero", "full", "random", "urandom"};
#define N_DEV_NODES (int)(sizeof(dev_nodes) / sizeof(dev_nodes[0]))

// /proc paths hidden behind /dev/null (files) or an empty read-only tmpfs (directories),
// and paths made read-only; the usual OCI set.
static const char *const proc_masked_files[] = {
    "kcore", "keys", "sysrq-trigger", "timer_list", "latency_stats", "sched_debug", "kallsyms",
};
static const char *const proc_masked_dirs[] = {"acpi", "scsi", "firmware"};
static const char *const proc_readonly[] = {"sys", "irq", "bus", "fs"};
#define N_ELEMS(a) (int)(sizeof(a) / sizeof((a)[0]))

// --- async-signal-safe helpers -------------------------------------------------------

/// Joins `a` and `b` into `buf` (no allocation); truncation fails the step with ENAMETOOLONG.
static int path_join(char *buf, size_t size, const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la + lb + 2 > size) { errno = ENAMETOOLONG; return -1; }
    memcpy(buf, a, la);
    size_t pos = la;
    if (lb > 0 && b[0] != '/') buf[pos++] = '/';
    memcpy(buf + pos, b, lb);
    buf[pos + lb] = '\0';
    return 0;
}

static void send_msg(int sock, int kind, int step, int err, int detail, int status) {
    hearth_msg msg = {.kind = kind, .step = step, .err = err, .detail = detail, .status = status};
    while (send(sock, &msg, sizeof msg, MSG_NOSIGNAL) < 0 && errno == EINTR) {}
}

static __attribute__((noreturn)) void fail(const hearth_spawn_spec *spec, int step, int detail) {
    int err = errno;
    send_msg(spec->sync_fd, HEARTH_MSG_ERROR, step, err, detail, 0);
    _exit(126);
}

#define CHECK(expr, step, detail) do { if ((expr) < 0) fail(spec, (step), (detail)); } while (0)

/// Mount flags a bind remount must keep: in a user namespace the kernel refuses to clear
/// locked flags of the source mount.
static unsigned long kept_mount_flags(const char *path) {
    // statfs, not statvfs: glibc's statvfs may read /proc/mounts with malloc, which can
    // deadlock in a child cloned from a multithreaded process.
    struct statfs st;
    if (statfs(path, &st) < 0) return 0;
    unsigned long flags = 0;
    if (st.f_flags & ST_NOSUID) flags |= MS_NOSUID;
    if (st.f_flags & ST_NODEV) flags |= MS_NODEV;
    if (st.f_flags & ST_NOEXEC) flags |= MS_NOEXEC;
    if (st.f_flags & ST_NOATIME) flags |= MS_NOATIME;
    if (st.f_flags & ST_NODIRATIME) flags |= MS_NODIRATIME;
    if (st.f_flags & ST_RELATIME) flags |= MS_RELATIME;
    return flags;
}

static int bind_mount(const char *source, const char *target, int readonly, unsigned long extra) {
    if (mount(source, target, NULL, MS_BIND | MS_REC, NULL) < 0) return -1;
    if (!readonly && extra == 0) return 0;
    unsigned long flags = MS_REMOUNT | MS_BIND | kept_mount_flags(target) | extra;
    if (readonly) flags |= MS_RDONLY;
    return mount(NULL, target, NULL, flags, NULL);
}

/// Attaches a detached mount (fsmount or open_tree's clone, made by the supervisor) at `target`.
static int move_detached(int mount_fd, const char *target) {
    if (syscall(SYS_move_mount, mount_fd, "", AT_FDCWD, target, 0x00000004 /* MOVE_MOUNT_F_EMPTY_PATH */) < 0) return -1;
    close(mount_fd);
    return 0;
}

static int bring_up_loopback(void) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, "lo", 3);
    int rc = ioctl(fd, SIOCGIFFLAGS, &ifr);
    if (rc == 0) {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        rc = ioctl(fd, SIOCSIFFLAGS, &ifr);
    }
    int err = errno;
    close(fd);
    errno = err;
    return rc;
}

static int listen_loopback(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, 128) < 0) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

/// Makes the Unix Runtime API socket at `path` (in a tmpfs of the sandbox's own, so no host path
/// names it), owned by uid:gid, mode 0600, and listens on it. Returns the listener or -1.
static int listen_unix(const char *path, uid_t uid, gid_t gid) {
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    size_t len = strlen(path);
    if (len >= sizeof addr.sun_path) { errno = ENAMETOOLONG; return -1; }
    memcpy(addr.sun_path, path, len + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || chown(path, uid, gid) < 0 || chmod(path, 0600) < 0
        || listen(fd, 64) < 0) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

static int send_fd(int sock, int fd, int kind) {
    hearth_msg msg = {.kind = kind};
    struct iovec iov = {.iov_base = &msg, .iov_len = sizeof msg};
    union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } control;
    memset(&control, 0, sizeof control);
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                        .msg_controllen = sizeof control.buf};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof(int));
    ssize_t n;
    do { n = sendmsg(sock, &mh, MSG_NOSIGNAL); } while (n < 0 && errno == EINTR);
    return n < 0 ? -1 : 0;
}

static int mount_dev(const hearth_spawn_spec *spec, const char *dev) {
    CHECK(mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=0755"),
          HEARTH_STEP_MOUNT_DEV, -1);
    char target[4096], source[64];
    for (int i = 0; i < N_DEV_NODES; i++) {
        CHECK(path_join(target, sizeof target, dev, dev_nodes[i]), HEARTH_STEP_MOUNT_DEV, i);
        int fd = open(target, O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
        CHECK(fd, HEARTH_STEP_MOUNT_DEV, i);
        close(fd);
        CHECK(path_join(source, sizeof source, "/dev", dev_nodes[i]), HEARTH_STEP_MOUNT_DEV, i);
        CHECK(mount(source, target, NULL, MS_BIND, NULL), HEARTH_STEP_MOUNT_DEV, i);
    }
    static const char *const links[][2] = {
        {"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"},
        {"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"},
    };
    for (int i = 0; i < N_ELEMS(links); i++) {
        CHECK(path_join(target, sizeof target, dev, links[i][1]), HEARTH_STEP_MOUNT_DEV, -1);
        CHECK(symlink(links[i][0], target), HEARTH_STEP_MOUNT_DEV, -1);
    }
    CHECK(mount(NULL, dev, NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC, "size=64k,mode=0755"),
          HEARTH_STEP_MOUNT_DEV, -1);
    return 0;
}

static void mount_proc(const hearth_spawn_spec *spec, const char *proc, const char *devnull) {
    CHECK(mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL), HEARTH_STEP_MOUNT_PROC, -1);
    char path[4096];
    int idx = 0;
    for (int i = 0; i < N_ELEMS(proc_masked_files); i++, idx++) {
        CHECK(path_join(path, sizeof path, proc, proc_masked_files[i]), HEARTH_STEP_MASK_PROC, idx);
        if (access(path, F_OK) < 0) continue;
        CHECK(mount(devnull, path, NULL, MS_BIND, NULL), HEARTH_STEP_MASK_PROC, idx);
    }
    for (int i = 0; i < N_ELEMS(proc_masked_dirs); i++, idx++) {
        CHECK(path_join(path, sizeof path, proc, proc_masked_dirs[i]), HEARTH_STEP_MASK_PROC, idx);
        if (access(path, F_OK) < 0) continue;
        CHECK(mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0"),
              HEARTH_STEP_MASK_PROC, idx);
    }
    for (int i = 0; i < N_ELEMS(proc_readonly); i++, idx++) {
        CHECK(path_join(path, sizeof path, proc, proc_readonly[i]), HEARTH_STEP_MASK_PROC, idx);
        if (access(path, F_OK) < 0) continue;
        CHECK(bind_mount(path, path, 1, MS_NOSUID | MS_NODEV | MS_NOEXEC), HEARTH_STEP_MASK_PROC, idx);
    }
}

static int drop_capabilities(void) {
    // The bounding set first (needs CAP_SETPCAP), then ambient; setresuid to a non-zero uid
    // clears permitted and effective; capset clears inheritable.
    for (int cap = 0; cap <= 63; cap++) {
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) return -1;
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) return -1;
    return 0;
}

static int clear_all_capability_sets(void) {
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    return (int)syscall(SYS_capset, &hdr, data);
}

/// The kernel's struct sigaction (rt_sigaction), which glibc's wrapper hides: glibc refuses its
/// reserved signals 32 and 33 (SIGCANCEL, SIGSETXID), whose handlers the supervisor installed.
struct kernel_sigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    uint64_t mask;
};

/// Every disposition back to SIG_DFL, glibc's reserved signals included, and an empty mask.
static void reset_signals(void) {
    struct kernel_sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.handler = SIG_DFL;
    for (int sig = 1; sig < _NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        syscall(SYS_rt_sigaction, sig, &sa, NULL, sizeof sa.mask);
    }
    uint64_t none = 0;
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof none);
}

/// Marks every descriptor >= 3 close-on-exec, and closes all but the ones in `keep`.
static void close_other_fds(const int *keep, int nkeep) {
    // Close the gaps between the kept descriptors (sorted ascending by the caller).
    unsigned int from = 3;
    for (int i = 0; i < nkeep; i++) {
        if (keep[i] < 3) continue;
        if ((unsigned int)keep[i] > from && syscall(SYS_close_range, from, (unsigned int)keep[i] - 1, 0) < 0) {
            for (int fd = (int)from; fd < keep[i]; fd++) close(fd);  // kernels before 5.9
        }
        from = (unsigned int)keep[i] + 1;
    }
    if (syscall(SYS_close_range, from, ~0U, 0) < 0) {
        for (int fd = (int)from; fd < 65536; fd++) close(fd);  // kernels before 5.9
    }
}

static void sort_fds(int *fds, int n) {
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && fds[j - 1] > fds[j]; j--) { int t = fds[j]; fds[j] = fds[j - 1]; fds[j - 1] = t; }
}

// --- the function's process (pid 2) ----------------------------------------------------

static __attribute__((noreturn)) void exec_function(const hearth_spawn_spec *spec, int exec_pipe) {
    int step = HEARTH_STEP_STDIO;
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(spec->stdout_fd, 1) < 0 || dup2(spec->stderr_fd, 2) < 0)
        goto failed;
    step = HEARTH_STEP_CHDIR;
    if (chdir(spec->cwd) < 0) goto failed;
    setsid();
    // The init reset every disposition when it started and has installed none since: only
    // the mask (SIGCHLD, blocked for the init's signalfd) is left to clear.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    step = HEARTH_STEP_EXEC;
    execve(spec->path, spec->argv, spec->envp);
failed:;
    int report[2] = {step, errno};
    while (write(exec_pipe, report, sizeof report) < 0 && errno == EINTR) {}
    _exit(127);
}

// --- the sandbox's init (pid 1) --------------------------------------------------------

/// Reaps every process in the sandbox; reports the function's wait status, then exits,
/// which makes the kernel kill whatever is left in the pid namespace. Exits as well when
/// the supervisor goes away (its end of the sync socket closes).
static __attribute__((noreturn)) void init_loop(const hearth_spawn_spec *spec, pid_t function, int sigfd) {
    struct pollfd fds[2] = {{.fd = sigfd, .events = POLLIN}, {.fd = spec->sync_fd, .events = POLLIN}};
    for (;;) {
        int status;
        pid_t pid;
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
            if (pid == function) {
                send_msg(spec->sync_fd, HEARTH_MSG_EXIT, 0, 0, 0, status);
                _exit(0);
            }
        }
        if (poll(fds, 2, -1) < 0 && errno != EINTR) _exit(125);
        if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) _exit(0);  // supervisor closed or went away
        if (fds[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(sigfd, &si, sizeof si) > 0) {}
        }
    }
}

/// A pre-forked shell: tells the supervisor it is ready, then blocks until it says go (one
/// byte) or discards the shell (EOF: exit without a word; the supervisor is not listening).
static void wait_for_launch(const hearth_spawn_spec *spec) {
    send_msg(spec->sync_fd, HEARTH_MSG_READY, 0, 0, 0, 0);
    char go;
    ssize_t n;
    do { n = read(spec->sync_fd, &go, 1); } while (n < 0 && errno == EINTR);
    if (n == 0) _exit(0);
    if (n < 0) fail(spec, HEARTH_STEP_WAIT_LAUNCH, -1);
}

/// Replaces this set-up child (a copy of the supervisor) with hearth-init as pid 1: the sync
/// socket at fd 3, the function's stdout and stderr at 4 and 5, everything else close-on-exec.
static __attribute__((noreturn)) void exec_init(const hearth_spawn_spec *spec) {
    // Copies above the target numbers first: any of the four may be 3, 4 or 5 now.
    int sync = fcntl(spec->sync_fd, F_DUPFD_CLOEXEC, 16);
    int out = fcntl(spec->stdout_fd, F_DUPFD_CLOEXEC, 16);
    int err = fcntl(spec->stderr_fd, F_DUPFD_CLOEXEC, 16);
    int init = fcntl(spec->init_fd, F_DUPFD_CLOEXEC, 16);
    if (sync < 0 || out < 0 || err < 0 || init < 0) fail(spec, HEARTH_STEP_EXEC_INIT, -1);
    if (dup2(sync, 3) < 0 || dup2(out, 4) < 0 || dup2(err, 5) < 0) fail(spec, HEARTH_STEP_EXEC_INIT, -1);
    static char *const argv[] = {"hearth-init", NULL};
    syscall(SYS_execveat, init, "", argv, spec->init_envp, AT_EMPTY_PATH);
    // fd 3 is the sync socket now, whatever spec->sync_fd became.
    int e = errno;
    send_msg(3, HEARTH_MSG_ERROR, HEARTH_STEP_EXEC_INIT, e, -1, 0);
    _exit(126);
}

/// Per-user kernel counters (inotify instances and watches, queued signals, POSIX message queue
/// bytes, pipe buffers, epoll watches, processes) are charged to the host uid, and inside a user
/// namespace also to the namespace's owner at every level up to the host. So the sandbox becomes
/// the instance's own host uid/gid and creates its user namespace as that uid (which then owns
/// it): nothing is charged to a shared uid or to root. Everything else (mount, pid, network, IPC,
/// UTS, cgroup namespaces) was created by root before and stays owned by the host's namespace,
/// so the capabilities held in the new namespace until they are dropped reach nothing but it.
static void become_instance_ids(const hearth_spawn_spec *spec) {
    // Keep the capabilities across the uid change (NO_SETUID_FIXUP) so that the unshare is a
    // privileged one (allowed whatever an LSM says of unprivileged user namespaces); the new
    // namespace resets the securebits and gives a full set valid only in it.
    CHECK(prctl(PR_SET_SECUREBITS, SECBIT_NO_SETUID_FIXUP, 0, 0, 0), HEARTH_STEP_USERNS, 0);
    CHECK(syscall(SYS_setgroups, 0, NULL), HEARTH_STEP_USERNS, 1);
    CHECK(syscall(SYS_setresgid, spec->host_gid, spec->host_gid, spec->host_gid), HEARTH_STEP_USERNS, 2);
    CHECK(syscall(SYS_setresuid, spec->host_uid, spec->host_uid, spec->host_uid), HEARTH_STEP_USERNS, 3);
    CHECK(unshare(CLONE_NEWUSER), HEARTH_STEP_USERNS, 4);
    send_msg(spec->sync_fd, HEARTH_MSG_ID_MAPS, 0, 0, 0, 0);
    char go;
    ssize_t n;
    do { n = read(spec->sync_fd, &go, 1); } while (n < 0 && errno == EINTR);
    if (n != 1) { if (n == 0) errno = EPIPE; fail(spec, HEARTH_STEP_WAIT_ID_MAPS, -1); }
}

static __attribute__((noreturn)) void child_main(const hearth_spawn_spec *spec) {
    // Unused slots repeat the sync socket.
    int keep[6 + HEARTH_MAX_BINDS] = {spec->sync_fd, spec->stdout_fd, spec->stderr_fd,
                                      spec->exec_init ? spec->init_fd : spec->sync_fd,
                                      spec->tmp_mount_fd >= 0 ? spec->tmp_mount_fd : spec->sync_fd,
                                      spec->root_mount_fd >= 0 ? spec->root_mount_fd : spec->sync_fd};
    for (int i = 0; i < HEARTH_MAX_BINDS; i++)
        keep[6 + i] = i < spec->nbinds && spec->binds[i].mount_fd >= 0 ? spec->binds[i].mount_fd : spec->sync_fd;
    sort_fds(keep, N_ELEMS(keep));
    close_other_fds(keep, N_ELEMS(keep));
    reset_signals();

    if (spec->wait_for_parent) {
        char go;
        ssize_t n;
        do { n = read(spec->sync_fd, &go, 1); } while (n < 0 && errno == EINTR);
        if (n != 1) { if (n == 0) errno = EPIPE; fail(spec, HEARTH_STEP_WAIT_PARENT, -1); }
    }
    // The supervisor has written the id maps (which needs this process's /proc files to be
    // its own): from here nothing but root on the host may read this copy of its memory. A
    // credential change resets the flag to fs.suid_dumpable, so it is set again after setresuid.
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

    // In a new user namespace, become its root (mapped by the supervisor) for the setup.
    if (spec->clone_flags & HEARTH_CLONE_NEWUSER) {
        CHECK(syscall(SYS_setresgid, 0, 0, 0), HEARTH_STEP_SETGID, 0);
        CHECK(syscall(SYS_setresuid, 0, 0, 0), HEARTH_STEP_SETUID, 0);
    }

    // The cgroup namespace is rooted at the instance's own cgroup, which (v1) the supervisor
    // attached this process to before its go: /proc/self/cgroup then shows "/" and no names.
    if (spec->cgroup_ns_after_attach) CHECK(unshare(CLONE_NEWCGROUP), HEARTH_STEP_CGROUP_NS, -1);

    // The first mount call: nothing below may propagate to the host.
    CHECK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), HEARTH_STEP_MOUNT_PRIVATE, -1);
    CHECK(sethostname(spec->hostname, strlen(spec->hostname)), HEARTH_STEP_HOSTNAME, -1);

    if (spec->clone_flags & CLONE_NEWNET) CHECK(bring_up_loopback(), HEARTH_STEP_LOOPBACK, -1);
    if (spec->listen_port > 0) {
        int lfd = listen_loopback(spec->listen_port);
        CHECK(lfd, HEARTH_STEP_LISTEN, spec->listen_port);
        CHECK(send_fd(spec->sync_fd, lfd, HEARTH_MSG_LISTENER), HEARTH_STEP_SEND_LISTENER, -1);
        close(lfd);
    }

    // The image, the code and the layers: file systems of their own, mounted detached by the
    // supervisor (a mount table naming no host path, ADR 0032), or bind mounts of host folders.
    if (spec->root_mount_fd >= 0) {
        CHECK(move_detached(spec->root_mount_fd, spec->root), HEARTH_STEP_MOUNT_ROOT, -1);
    } else {
        CHECK(bind_mount(spec->image, spec->root, 0, 0), HEARTH_STEP_MOUNT_ROOT, -1);
    }
    for (int i = 0; i < spec->nbinds; i++) {
        if (spec->binds[i].mount_fd >= 0) {
            CHECK(move_detached(spec->binds[i].mount_fd, spec->binds[i].target), HEARTH_STEP_MOUNT_BIND, i);
        } else {
            CHECK(bind_mount(spec->binds[i].source, spec->binds[i].target, spec->binds[i].readonly,
                             MS_NOSUID | MS_NODEV),
                  HEARTH_STEP_MOUNT_BIND, i);
        }
    }
    char path[4096], devnull[4096];
    if (spec->runtime_socket_dir != NULL) {
        // The Runtime API socket's folder: a tmpfs of this sandbox's own (made read-only once the
        // socket exists), so that nothing in the mount table names the supervisor or the instance.
        CHECK(path_join(path, sizeof path, spec->root, spec->runtime_socket_dir), HEARTH_STEP_MOUNT_RUN, -1);
        CHECK(mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=16k,nr_inodes=16,mode=0755"),
              HEARTH_STEP_MOUNT_RUN, -1);
    }
    char opts[64];
    {
        // "size=<bytes>,mode=1777" without snprintf.
        char digits[24];
        int nd = 0;
        uint64_t v = spec->tmp_size_bytes;
        do { digits[nd++] = (char)('0' + v % 10); v /= 10; } while (v > 0 && nd < 23);
        size_t pos = 0;
        memcpy(opts, "size=", 5); pos = 5;
        while (nd > 0) opts[pos++] = digits[--nd];
        memcpy(opts + pos, ",mode=1777", 11);
    }
    CHECK(path_join(path, sizeof path, spec->root, "tmp"), HEARTH_STEP_MOUNT_TMP, -1);
    if (spec->tmp_mount_fd >= 0) {
        // Disk-backed ephemeral storage, mounted detached by the supervisor (ADR 0016).
        CHECK(syscall(SYS_move_mount, spec->tmp_mount_fd, "", AT_FDCWD, path, 0x00000004 /* MOVE_MOUNT_F_EMPTY_PATH */),
              HEARTH_STEP_MOUNT_TMP, -1);
        close(spec->tmp_mount_fd);
    } else {
        CHECK(mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, opts), HEARTH_STEP_MOUNT_TMP, -1);
    }
    CHECK(path_join(path, sizeof path, spec->root, "dev"), HEARTH_STEP_MOUNT_DEV, -1);
    mount_dev(spec, path);
    CHECK(path_join(devnull, sizeof devnull, spec->root, "dev/null"), HEARTH_STEP_MOUNT_PROC, -1);
    CHECK(path_join(path, sizeof path, spec->root, "proc"), HEARTH_STEP_MOUNT_PROC, -1);
    mount_proc(spec, path, devnull);

    CHECK(chdir(spec->root), HEARTH_STEP_PIVOT_ROOT, -1);
    CHECK(syscall(SYS_pivot_root, ".", "."), HEARTH_STEP_PIVOT_ROOT, -1);
    CHECK(umount2(".", MNT_DETACH), HEARTH_STEP_PIVOT_ROOT, -1);
    CHECK(chdir("/"), HEARTH_STEP_PIVOT_ROOT, -1);
    CHECK(mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | kept_mount_flags("/"), NULL),
          HEARTH_STEP_REMOUNT_ROOT_RO, -1);

    if (spec->runtime_socket_dir != NULL) {
        // Owned by the function's uid as this namespace will see it (the instance's host uid, whose
        // user namespace is made below, maps it to spec->uid).
        uid_t owner = spec->instance_ids ? spec->host_uid : spec->uid;
        gid_t group = spec->instance_ids ? spec->host_gid : spec->gid;
        int ufd = listen_unix(spec->runtime_socket, owner, group);
        CHECK(ufd, HEARTH_STEP_RUNTIME_SOCKET, 0);
        // connect(2) needs write permission on the socket, not a writable mount.
        CHECK(mount(NULL, spec->runtime_socket_dir, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL),
              HEARTH_STEP_RUNTIME_SOCKET, 1);
        CHECK(send_fd(spec->sync_fd, ufd, HEARTH_MSG_UNIX_LISTENER), HEARTH_STEP_RUNTIME_SOCKET, 2);
        close(ufd);
    }

    for (int i = 0; i < spec->nrlimits; i++)
        CHECK(setrlimit(spec->rlimits[i].resource, &spec->rlimits[i].limit), HEARTH_STEP_RLIMIT, i);

    if (spec->instance_ids) become_instance_ids(spec);

    CHECK(drop_capabilities(), HEARTH_STEP_DROP_CAPS, -1);
    // Raw syscalls: glibc's wrappers would try to synchronise the id change across the
    // threads of the process we were cloned from, which do not exist here.
    CHECK(syscall(SYS_setgroups, 0, NULL), HEARTH_STEP_SETGROUPS, -1);
    CHECK(syscall(SYS_setresgid, spec->gid, spec->gid, spec->gid), HEARTH_STEP_SETGID, (int)spec->gid);
    CHECK(syscall(SYS_setresuid, spec->uid, spec->uid, spec->uid), HEARTH_STEP_SETUID, (int)spec->uid);
    CHECK(clear_all_capability_sets(), HEARTH_STEP_DROP_CAPS, -1);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), HEARTH_STEP_NO_NEW_PRIVS, -1);

    // Everything this init needs after the filter is allowed by it: signalfd4, poll, wait4,
    // sendmsg, vfork (clone without namespace flags where there is no vfork), pipe2, read,
    // write, close, exit_group.
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    int sigfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
    CHECK(sigfd, HEARTH_STEP_FORK, -1);
    int exec_pipe[2];
    CHECK(pipe2(exec_pipe, O_CLOEXEC), HEARTH_STEP_FORK, -1);

    if (spec->seccomp_filter != NULL) {
        struct sock_fprog prog = {.len = (unsigned short)spec->seccomp_len,
                                  .filter = (struct sock_filter *)spec->seccomp_filter};
        CHECK(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0), HEARTH_STEP_SECCOMP, -1);
    }

    // Everything the function must not inherit is close-on-exec from here on.
    syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
    // pid 1 becomes hearth-init, which holds (a shell), forks and reaps the function itself.
    if (spec->exec_init) exec_init(spec);
    // A pre-forked shell stops here, fully set up: the launch costs only fork + exec.
    if (spec->hold_before_exec) wait_for_launch(spec);
    // vfork: this init is a copy of the supervisor's whole address space, and a fork would copy
    // its page tables (milliseconds) only for the exec to throw them away. The child borrows
    // the memory until its execve; it touches only its own stack frame, its descriptors,
    // signal dispositions and cwd (none shared: no CLONE_FILES, CLONE_SIGHAND or CLONE_FS).
    pid_t function = vfork();
    CHECK(function, HEARTH_STEP_FORK, -1);
    if (function == 0) {
        close(exec_pipe[0]);
        exec_function(spec, exec_pipe[1]);
    }
    close(exec_pipe[1]);
    close(spec->stdout_fd);
    if (spec->stderr_fd != spec->stdout_fd) close(spec->stderr_fd);
    int report[2];
    ssize_t n;
    do { n = read(exec_pipe[0], report, sizeof report); } while (n < 0 && errno == EINTR);
    close(exec_pipe[0]);
    if (n == (ssize_t)sizeof report) {
        send_msg(spec->sync_fd, HEARTH_MSG_ERROR, report[0], report[1], -1, 0);
        _exit(126);
    }
    send_msg(spec->sync_fd, HEARTH_MSG_EXEC_OK, 0, 0, 0, 0);
    init_loop(spec, function, sigfd);
}

// --- the supervisor's side -------------------------------------------------------------

struct hearth_clone_args {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid,
        set_tid_size, cgroup;
};

/// Moves the calling thread to the groups whose `tasks` files `fds` are ("0" is the writer
/// itself: cgroup v1 then takes no global lock, where a pid written to `cgroup.procs` waits
/// for an RCU grace period, 7-14 ms on an idle host). Returns how many moves succeeded.
static int move_self(const int *fds, int n) {
    for (int i = 0; i < n; i++) {
        ssize_t w;
        do { w = pwrite(fds[i], "0", 1, 0); } while (w < 0 && errno == EINTR);
        if (w != 1) return i;
    }
    return n;
}

/// Back to the thread's own groups; a thread left in an instance's groups would be killed with
/// the instance (its removal kills what `cgroup.procs` lists: the supervisor), so not getting
/// back is fatal.
static void move_home(const hearth_spawn_spec *spec, int moved) {
    for (int attempt = 0; attempt < 100; attempt++) {
        if (move_self(spec->home_fds, moved) == moved) return;
        usleep(1000);
    }
    static const char message[] = "hearth: cannot move a supervisor thread back to its own cgroups\n";
    ssize_t ignored = write(2, message, sizeof message - 1);
    (void)ignored;
    abort();
}

static long clone_child(const hearth_spawn_spec *spec, int *pidfd, int *used_clone_into_cgroup) {
    struct hearth_clone_args args;
    memset(&args, 0, sizeof args);
    args.flags = spec->clone_flags | CLONE_PIDFD;
    args.pidfd = (uint64_t)(uintptr_t)pidfd;
    args.exit_signal = SIGCHLD;
    if (spec->cgroup_fd >= 0) {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = (uint64_t)spec->cgroup_fd;
    }
    long rc = syscall(SYS_clone3, &args, sizeof args);
    if (rc < 0 && errno == EINVAL && spec->cgroup_fd >= 0) {
        // Kernels 5.3–5.6 have clone3 but not CLONE_INTO_CGROUP: the supervisor attaches instead.
        args.flags &= ~(uint64_t)CLONE_INTO_CGROUP;
        args.cgroup = 0;
        rc = syscall(SYS_clone3, &args, sizeof args);
        if (rc >= 0 || errno != ENOSYS) return rc;
    }
    if (rc < 0 && (errno == ENOSYS || errno == E2BIG) ) {
        // Kernels before 5.3 (or without clone3): plain clone; CLONE_PIDFD stores the pidfd
        // in parent_tid. No CLONE_INTO_CGROUP: the supervisor attaches the child instead.
        rc = syscall(SYS_clone, (unsigned long)(spec->clone_flags | CLONE_PIDFD | SIGCHLD), 0, pidfd, 0, 0);
    } else if (rc >= 0 && spec->cgroup_fd >= 0) {
        *used_clone_into_cgroup = 1;
    }
    return rc;
}

pid_t hearth_spawn_clone(const hearth_spawn_spec *spec, int *pidfd, int *used_clone_into_cgroup) {
    *pidfd = -1;
    *used_clone_into_cgroup = 0;
    // cgroup v1: be in the instance's groups for the clone, so the child is born there.
    int moved = 0;
    if (spec->cgroup_fd < 0 && spec->nmigrate > 0 && spec->nmigrate <= HEARTH_MAX_MIGRATE) {
        moved = move_self(spec->migrate_fds, spec->nmigrate);
        if (moved < spec->nmigrate) {
            // Not allowed here (for example an unprivileged supervisor): the supervisor attaches.
            move_home(spec, moved);
            moved = 0;
        }
    }
    long rc = clone_child(spec, pidfd, used_clone_into_cgroup);
    if (rc == 0) child_main(spec);
    int saved = errno;
    if (moved > 0) {
        move_home(spec, moved);
        if (rc > 0) *used_clone_into_cgroup = 1;
    }
    errno = saved;
    if (rc < 0) return -1;
    return (pid_t)rc;
}

int hearth_recv_msg(int sock, hearth_msg *msg, int *fd_out) {
    *fd_out = -1;
    struct iovec iov = {.iov_base = msg, .iov_len = sizeof *msg};
    union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } control;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                        .msg_controllen = sizeof control.buf};
    ssize_t n;
    do { n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC); } while (n < 0 && errno == EINTR);
    if (n < 0) return -1;
    if (n == 0) return 0;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) memcpy(fd_out, CMSG_DATA(cm), sizeof(int));
    }
    if ((size_t)n != sizeof *msg) { errno = EPROTO; return -1; }
    return 1;
}

int hearth_pidfd_kill(int pidfd, pid_t pid, int sig) {
    if (pidfd >= 0) {
        long rc = syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
        if (rc == 0 || errno != ENOSYS) return (int)rc;
    }
    return kill(pid, sig);
}

int hearth_pipe_cloexec(int fds[2]) {
    return pipe2(fds, O_CLOEXEC);
}
