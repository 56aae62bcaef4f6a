// Compiles the sandbox's seccomp policy to classic BPF with libseccomp, in the supervisor,
// before any fork: the child only loads the finished program (as crun does). The policy itself
// is data (Sources/HearthSandbox/seccomp/<arch>.policy), parsed in Swift.
#define _GNU_SOURCE
#include "hearth_spawn.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

// x32 system calls on x86_64 have this bit set; libseccomp's program sends them to its
// bad-architecture action, so the ENOSYS stub leaves them alone.
#define HEARTH_X32_SYSCALL_BIT 0x40000000u

uint32_t hearth_seccomp_native_arch(void) { return seccomp_arch_native(); }

int hearth_seccomp_resolve(uint32_t audit_arch, const char *name) {
    int nr = seccomp_syscall_resolve_name_arch(audit_arch, name);
    return nr < 0 ? -1 : nr;
}

static int to_scmp_op(uint32_t op, enum scmp_compare *out) {
    switch (op) {
    case HEARTH_CMP_NE: *out = SCMP_CMP_NE; return 0;
    case HEARTH_CMP_LT: *out = SCMP_CMP_LT; return 0;
    case HEARTH_CMP_LE: *out = SCMP_CMP_LE; return 0;
    case HEARTH_CMP_EQ: *out = SCMP_CMP_EQ; return 0;
    case HEARTH_CMP_GE: *out = SCMP_CMP_GE; return 0;
    case HEARTH_CMP_GT: *out = SCMP_CMP_GT; return 0;
    case HEARTH_CMP_MASKED_EQ: *out = SCMP_CMP_MASKED_EQ; return 0;
    default: return -EINVAL;
    }
}

static int add_rule(scmp_filter_ctx ctx, uint32_t audit_arch, int native, const hearth_seccomp_rule *r,
                    const hearth_seccomp_cmp *cmps, size_t n_cmps, size_t *skipped, char *err, size_t err_len) {
    struct scmp_arg_cmp c[6];
    if (r->n_cmps > 6 || (size_t)r->first_cmp + r->n_cmps > n_cmps) {
        snprintf(err, err_len, "seccomp rule for %s: bad comparison range", r->name);
        return -EINVAL;
    }
    for (uint32_t i = 0; i < r->n_cmps; i++) {
        const hearth_seccomp_cmp *in = &cmps[r->first_cmp + i];
        enum scmp_compare op;
        if (in->argument > 5 || to_scmp_op(in->op, &op) < 0) {
            snprintf(err, err_len, "seccomp rule for %s: bad comparison on argument %u", r->name, in->argument);
            return -EINVAL;
        }
        c[i] = (struct scmp_arg_cmp){.arg = in->argument, .op = op,
                                     .datum_a = op == SCMP_CMP_MASKED_EQ ? in->mask : in->value,
                                     .datum_b = op == SCMP_CMP_MASKED_EQ ? in->value : 0};
    }
    int known = seccomp_syscall_resolve_name_arch(audit_arch, r->name);
    if (known >= 0 && known != r->nr) {
        snprintf(err, err_len, "seccomp rule for %s: the policy says %d, libseccomp says %d", r->name, r->nr, known);
        return -EINVAL;
    }
    int nr = r->nr;
    if (!native) {
        // libseccomp takes native numbers and translates them by name for other architectures.
        nr = known >= 0 ? seccomp_syscall_resolve_name(r->name) : __NR_SCMP_ERROR;
        if (nr == __NR_SCMP_ERROR) {
            (*skipped)++;
            return 0;
        }
    }
    uint32_t action = r->action_errno < 0 ? SCMP_ACT_ALLOW : SCMP_ACT_ERRNO((uint32_t)r->action_errno);
    int rc = seccomp_rule_add_array(ctx, action, nr, r->n_cmps, c);
    if (rc < 0) snprintf(err, err_len, "seccomp rule for %s (%d): %s", r->name, r->nr, strerror(-rc));
    return rc;
}

// Exports the filter into a malloc'd buffer of struct sock_filter.
static int export_bpf(scmp_filter_ctx ctx, struct sock_filter **out, size_t *out_len, char *err, size_t err_len) {
    int fd = memfd_create("hearth-seccomp", MFD_CLOEXEC);
    if (fd < 0) {
        snprintf(err, err_len, "memfd_create: %s", strerror(errno));
        return -errno;
    }
    int rc = seccomp_export_bpf(ctx, fd);
    if (rc < 0) {
        snprintf(err, err_len, "seccomp_export_bpf: %s", strerror(-rc));
    } else {
        off_t size = lseek(fd, 0, SEEK_END);
        void *buf = size > 0 ? malloc((size_t)size) : NULL;
        if (buf == NULL || pread(fd, buf, (size_t)size, 0) != size) {
            free(buf);
            rc = -EIO;
            snprintf(err, err_len, "reading the compiled seccomp program failed");
        } else {
            *out = buf;
            *out_len = (size_t)size / sizeof(struct sock_filter);
        }
    }
    close(fd);
    return rc;
}

int hearth_seccomp_compile(uint32_t audit_arch, int32_t default_errno, int32_t newer_errno, uint32_t highest_nr,
                           const hearth_seccomp_rule *rules, size_t n_rules,
                           const hearth_seccomp_cmp *cmps, size_t n_cmps,
                           void **out, size_t *out_len, size_t *skipped, char *err, size_t err_len) {
    *out = NULL;
    *out_len = 0;
    *skipped = 0;
    if (default_errno < 0 || newer_errno < 0) {
        snprintf(err, err_len, "seccomp policy: negative errno");
        return -EINVAL;
    }
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO((uint32_t)default_errno));
    if (ctx == NULL) {
        snprintf(err, err_len, "seccomp_init failed");
        return -ENOMEM;
    }
    int native = audit_arch == seccomp_arch_native();
    int rc = 0;
    if (!native) {
        rc = seccomp_arch_add(ctx, audit_arch);
        if (rc == 0) rc = seccomp_arch_remove(ctx, SCMP_ARCH_NATIVE);
        if (rc < 0) snprintf(err, err_len, "seccomp architecture 0x%x: %s", audit_arch, strerror(-rc));
    }
    for (size_t i = 0; i < n_rules && rc == 0; i++) {
        // A rule with the default action adds nothing (libseccomp refuses it): it documents.
        if (rules[i].action_errno == default_errno) continue;
        rc = add_rule(ctx, audit_arch, native, &rules[i], cmps, n_cmps, skipped, err, err_len);
    }
    struct sock_filter *body = NULL;
    size_t body_len = 0;
    if (rc == 0) rc = export_bpf(ctx, &body, &body_len, err, err_len);
    seccomp_release(ctx);
    if (rc < 0) return rc;

    // The stub: on this architecture, a number above the list (and not x32) answers newer_errno;
    // everything else falls through to libseccomp's program. Jumps are relative, so prepending
    // leaves the program intact.
    const struct sock_filter stub[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, audit_arch, 0, 4),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, HEARTH_X32_SYSCALL_BIT, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, highest_nr, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((uint32_t)newer_errno & SECCOMP_RET_DATA)),
    };
    const size_t stub_len = sizeof stub / sizeof stub[0];
    struct sock_filter *all = malloc((stub_len + body_len) * sizeof *all);
    if (all == NULL) {
        free(body);
        snprintf(err, err_len, "out of memory for the seccomp program");
        return -ENOMEM;
    }
    memcpy(all, stub, sizeof stub);
    memcpy(all + stub_len, body, body_len * sizeof *body);
    free(body);
    *out = all;
    *out_len = stub_len + body_len;
    return 0;
}
