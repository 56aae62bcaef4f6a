// CHearthSpawn: the only code that runs between clone and execve.
//
// The Swift supervisor prepares everything (paths, argv/envp, rlimits, the compiled
// seccomp program) into one flat `hearth_spawn_spec`; `hearth_spawn_clone` clones a
// child into new namespaces and the child runs a fixed list of steps. The child never
// allocates, logs or decides policy. A failing step is reported to the parent over the
// sync socket as a `hearth_msg` carrying (step, errno, detail).
#ifndef HEARTH_SPAWN_H
#define HEARTH_SPAWN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/resource.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Namespace clone flags (Linux UAPI values), visible to Swift without _GNU_SOURCE.
#define HEARTH_CLONE_NEWNS     0x00020000ULL
#define HEARTH_CLONE_NEWCGROUP 0x02000000ULL
#define HEARTH_CLONE_NEWUTS    0x04000000ULL
#define HEARTH_CLONE_NEWIPC    0x08000000ULL
#define HEARTH_CLONE_NEWUSER   0x10000000ULL
#define HEARTH_CLONE_NEWPID    0x20000000ULL
#define HEARTH_CLONE_NEWNET    0x40000000ULL
#define HEARTH_CLONE_NEWTIME   0x00000080ULL

/// Steps of the child's setup, in order. Reported with errno when one fails.
typedef enum hearth_step {
    HEARTH_STEP_NONE = 0,
    HEARTH_STEP_CLONE,
    HEARTH_STEP_WAIT_PARENT,
    HEARTH_STEP_CGROUP_NS,       // unshare(CLONE_NEWCGROUP) once the supervisor attached the child
    HEARTH_STEP_MOUNT_PRIVATE,
    HEARTH_STEP_HOSTNAME,
    HEARTH_STEP_LOOPBACK,
    HEARTH_STEP_LISTEN,
    HEARTH_STEP_SEND_LISTENER,
    HEARTH_STEP_MOUNT_ROOT,
    HEARTH_STEP_MOUNT_BIND,      // detail = index of the bind
    HEARTH_STEP_MOUNT_TMP,
    HEARTH_STEP_MOUNT_DEV,       // detail = index of the device node, -1 for the tmpfs
    HEARTH_STEP_MOUNT_PROC,
    HEARTH_STEP_MASK_PROC,       // detail = index into the masked path list
    HEARTH_STEP_PIVOT_ROOT,
    HEARTH_STEP_REMOUNT_ROOT_RO,
    HEARTH_STEP_RLIMIT,          // detail = index of the rlimit
    HEARTH_STEP_SETGROUPS,
    HEARTH_STEP_SETGID,
    HEARTH_STEP_SETUID,
    HEARTH_STEP_DROP_CAPS,
    HEARTH_STEP_NO_NEW_PRIVS,
    HEARTH_STEP_SECCOMP,
    HEARTH_STEP_EXEC_INIT,       // execveat of hearth-init, the sandbox's pid 1
    HEARTH_STEP_WAIT_LAUNCH,     // a pre-forked shell waiting for the supervisor's go
    HEARTH_STEP_FORK,
    HEARTH_STEP_CHDIR,
    HEARTH_STEP_STDIO,
    HEARTH_STEP_EXEC,
    HEARTH_STEP_USERNS,          // become the instance's host uid/gid and unshare the user namespace
    HEARTH_STEP_WAIT_ID_MAPS,    // wait for the supervisor to write the namespace's id maps
    HEARTH_STEP_MOUNT_RUN,       // the small tmpfs of the Runtime API socket (/run/hearth)
    HEARTH_STEP_RUNTIME_SOCKET,  // bind, listen on and hand over the Unix Runtime API socket
    HEARTH_STEP_COUNT
} hearth_step;

/// Returns a lower-case name of a step ("pivot_root", "mount /proc", ...).
const char *_Nonnull hearth_step_name(int step);

/// Messages the sandbox's init (pid 1) sends to the supervisor over the sync socket.
typedef enum hearth_msg_kind {
    HEARTH_MSG_ERROR = 1,        // a setup step failed: step, err, detail
    HEARTH_MSG_LISTENER = 2,     // carries the 127.0.0.1:9001 listener as SCM_RIGHTS
    HEARTH_MSG_EXEC_OK = 3,      // the function's process has exec'd
    HEARTH_MSG_EXIT = 4,         // the function's process ended: status = wait status
    HEARTH_MSG_READY = 5,        // a held sandbox is set up and waits for one byte to exec
    HEARTH_MSG_ID_MAPS = 6,      // the instance's user namespace exists: write its id maps, then one byte
    HEARTH_MSG_UNIX_LISTENER = 7, // carries the Unix Runtime API listener (made inside) as SCM_RIGHTS
} hearth_msg_kind;

typedef struct hearth_msg {
    int32_t kind;
    int32_t step;
    int32_t err;
    int32_t detail;
    int32_t status;
} hearth_msg;

typedef struct hearth_bind {
    const char *_Nullable source;   // host path (bind-mounted when mount_fd is -1)
    const char *_Nullable target;   // host path of the mount point inside the assembled root
    int readonly;
    int mount_fd;                   // a detached mount (hearth_fsimage_clone) moved to target instead, or -1
} hearth_bind;

typedef struct hearth_rlimit {
    int resource;
    struct rlimit limit;
} hearth_rlimit;

#define HEARTH_MAX_BINDS 16
#define HEARTH_MAX_RLIMITS 8
#define HEARTH_MAX_MIGRATE 8

/// Everything the child needs, prepared by the supervisor before the clone.
/// All pointers must stay valid until `hearth_spawn_clone` returns.
typedef struct hearth_spawn_spec {
    uint64_t clone_flags;                 // CLONE_NEW* flags
    int cgroup_fd;                        // cgroup v2 directory for CLONE_INTO_CGROUP, or -1
    int sync_fd;                          // the child's end of the SOCK_SEQPACKET pair
    int stdout_fd;                        // where the function's stdout goes
    int stderr_fd;                        // where the function's stderr goes
    int wait_for_parent;                  // read one byte from sync_fd before any setup
    int hold_before_exec;                 // when set up, send HEARTH_MSG_READY and read one more
                                          // byte before forking the function (EOF: exit quietly)
    int migrate_fds[HEARTH_MAX_MIGRATE];  // cgroup v1: each instance group's `tasks`, open for writing;
                                          // the calling thread moves itself there ("0": no global
                                          // lock), clones (the child is born in the groups) and moves
                                          // back through home_fds (its own groups' `tasks`)
    int home_fds[HEARTH_MAX_MIGRATE];
    int nmigrate;                         // 0: no migration (v2, or the supervisor attaches)
    int cgroup_ns_after_attach;           // unshare(CLONE_NEWCGROUP) after the supervisor's go, so the
                                          // namespace is rooted at the instance's cgroup (v1 attaches
                                          // after the clone; leave CLONE_NEWCGROUP out of clone_flags)

    const char *_Nullable image;           // read-only runtime image (host path), bind-mounted when
                                          // root_mount_fd is -1
    int root_mount_fd;                    // a detached mount of the image (hearth_fsimage_clone), or -1
    const char *_Nullable root;            // empty host directory the root is assembled on
    hearth_bind binds[HEARTH_MAX_BINDS];  // code (/var/task), layers (/opt)
    int nbinds;
    uint64_t tmp_size_bytes;              // size of the /tmp tmpfs
    int tmp_mount_fd;                     // a detached mount (hearth_tmp_prepare) to move to /tmp
                                          // instead of the tmpfs, or -1

    const char *_Nullable hostname;
    int listen_port;                      // TCP port on 127.0.0.1 in the sandbox, 0 for none
    const char *_Nullable runtime_socket_dir;  // in the sandbox: a tmpfs of its own mounted here
                                          // ("/run/hearth"), or NULL for no Unix Runtime API socket
    const char *_Nullable runtime_socket;  // in the sandbox: the socket made, listened on and sent
                                          // over sync_fd ("/run/hearth/runtime.sock")

    hearth_rlimit rlimits[HEARTH_MAX_RLIMITS];
    int nrlimits;
    uid_t uid;
    gid_t gid;
    int instance_ids;                     // after the mounts, become host_uid/host_gid (an id of the
                                          // instance's own) and unshare a user namespace, which that id
                                          // then owns; the supervisor maps uid -> host_uid, gid -> host_gid
    uid_t host_uid;
    gid_t host_gid;

    const void *_Nullable seccomp_filter; // struct sock_filter[], compiled before the fork
    size_t seccomp_len;                   // number of instructions

    int exec_init;                        // exec hearth-init (init_fd) as pid 1 once set up, instead
                                          // of staying a copy of the supervisor as the init
    int init_fd;                          // a descriptor of the hearth-init binary (execveat)
    char *const _Nullable *_Nullable init_envp;  // its environment: the function's plus HEARTH_INIT_*

    const char *_Nullable cwd;
    const char *_Nullable path;            // executable, inside the sandbox
    char *const _Nullable *_Nullable argv;
    char *const _Nullable *_Nullable envp;
} hearth_spawn_spec;

/// Clones the sandbox's init with `spec->clone_flags` (clone3 with CLONE_PIDFD, plus
/// CLONE_INTO_CGROUP when `cgroup_fd >= 0`; falls back to clone on ENOSYS). Returns the pid
/// in the parent and stores a pidfd in `*pidfd`; `*used_clone_into_cgroup` tells whether the
/// child was born in its cgroup: the kernel placed it in `cgroup_fd` (v2), or (v1, `nmigrate`)
/// the calling thread moved itself into the instance's groups for the clone and back after it.
/// A thread that cannot move back aborts the process: it must never stay in an instance's
/// groups, whose removal kills every process listed there. Returns -1 with errno set on failure.
/// Never returns in the child.
pid_t hearth_spawn_clone(const hearth_spawn_spec *_Nonnull spec, int *_Nonnull pidfd,
                         int *_Nonnull used_clone_into_cgroup);

/// Receives one message from the sync socket. `*fd_out` is set to a passed descriptor or -1.
/// Returns 1 on a message, 0 on EOF, -1 with errno on error. Retries EINTR.
int hearth_recv_msg(int sock, hearth_msg *_Nonnull msg, int *_Nonnull fd_out);

/// pipe2(O_CLOEXEC), which Swift's Glibc module does not expose.
/// Ephemeral storage for a sandbox's /tmp (ADR 0016, 0035), made once per size: mkfs.ext4 of
/// `size_bytes` on a sparse file at `image`, its root owned by 0:0, opened read-only and
/// unlinked. Returns the descriptor (close-on-exec) or -errno. Root only.
int hearth_tmp_template(const char *_Nonnull image, uint64_t size_bytes, const char *_Nonnull mkfs);

/// One sandbox's /tmp from a template (`hearth_tmp_template`): a reflink or sparse copy of it at
/// `image` (unlinked at once) on a self-clearing loop device, mounted detached (nosuid, nodev),
/// its root chowned to uid:gid. Returns the mount's descriptor (close-on-exec) or -errno.
int hearth_tmp_from_template(int template_fd, const char *_Nonnull image, uid_t uid, gid_t gid);

/// Gives the root of the detached mount `mount_fd` to uid:gid (fchownat, AT_EMPTY_PATH; -1 keeps
/// one). Returns 0 or -errno.
int hearth_tmp_give(int mount_fd, uid_t uid, gid_t gid);

/// A read-only folder as a file system of its own (ADR 0032), so that a sandbox's mount table
/// names no host path: makes an ext4 image of `size_bytes` (sparse) at `image` holding a copy of
/// `source` (mkfs.ext4 -d, at most `inodes` files), without a journal. Returns 0 or -errno.
int hearth_fsimage_make(const char *_Nonnull image, const char *_Nonnull source, uint64_t size_bytes, uint64_t inodes,
                        const char *_Nonnull mkfs);

/// Attaches the ext4 `image` read-only to a self-clearing loop device and mounts it detached
/// (read-only, nosuid, nodev); with `unlink_image` its name goes once attached. Returns the
/// mount's descriptor (close-on-exec) or -errno. The loop device goes with the last mount.
int hearth_fsimage_mount(const char *_Nonnull image, int unlink_image);

/// A new detached copy of the mount `mount_fd` (or of its subfolder `path`, "" for the whole):
/// open_tree(OPEN_TREE_CLONE), one per sandbox. Returns a descriptor (close-on-exec) or -errno
/// (EINVAL on kernels that cannot clone a detached mount).
int hearth_fsimage_clone(int mount_fd, const char *_Nonnull path);

int hearth_pipe_cloexec(int fds[_Nonnull 2]);

/// pidfd_send_signal, with a kill(2) fallback when pidfd is -1.
int hearth_pidfd_kill(int pidfd, pid_t pid, int sig);

/// Argument comparison operators of a seccomp rule (libseccomp's, renumbered so Swift need not
/// import seccomp.h).
enum {
    HEARTH_CMP_NE = 1,
    HEARTH_CMP_LT,
    HEARTH_CMP_LE,
    HEARTH_CMP_EQ,
    HEARTH_CMP_GE,
    HEARTH_CMP_GT,
    HEARTH_CMP_MASKED_EQ,
};

/// One argument comparison: `arg[argument] OP value`, or `arg & mask == value` for MASKED_EQ.
typedef struct {
    uint32_t argument;
    uint32_t op;
    uint64_t mask;
    uint64_t value;
} hearth_seccomp_cmp;

/// One rule of a parsed policy file. `action_errno` < 0 allows the call; otherwise the call fails
/// with that errno. The comparisons are `cmps[first_cmp ..< first_cmp + n_cmps]`.
typedef struct {
    const char *_Nonnull name;
    int32_t nr;
    int32_t action_errno;
    uint32_t first_cmp;
    uint32_t n_cmps;
} hearth_seccomp_rule;

/// Compiles a policy with libseccomp into classic BPF for `audit_arch` (AUDIT_ARCH_X86_64 or
/// AUDIT_ARCH_AARCH64), before any fork. Unmatched calls fail with `default_errno`; calls
/// numbered above `highest_nr` fail with `newer_errno` (a stub in front of libseccomp's program,
/// as runc does, so that unknown future calls look unimplemented). For the native architecture the
/// rules' numbers are used as they are, and a number that libseccomp knows differently is an
/// error; for another architecture (unit tests) rules go through libseccomp's name tables and
/// names it does not know are skipped (counted in `*skipped`). On success `*out` is a malloc'd
/// struct sock_filter[] of `*out_len` instructions. Returns 0, or -errno with `err` filled.
int hearth_seccomp_compile(uint32_t audit_arch, int32_t default_errno, int32_t newer_errno, uint32_t highest_nr,
                           const hearth_seccomp_rule *_Nonnull rules, size_t n_rules,
                           const hearth_seccomp_cmp *_Nullable cmps, size_t n_cmps,
                           void *_Nullable *_Nonnull out, size_t *_Nonnull out_len, size_t *_Nonnull skipped,
                           char *_Nonnull err, size_t err_len);

/// The number libseccomp gives `name` on `audit_arch`, or -1 if it does not know the name there.
int hearth_seccomp_resolve(uint32_t audit_arch, const char *_Nonnull name);

/// The AUDIT_ARCH_* value of the architecture this code runs on.
uint32_t hearth_seccomp_native_arch(void);

#ifdef __cplusplus
}
#endif
#endif
