#ifndef CMAPPERSYS_H
#define CMAPPERSYS_H

#include <stddef.h>
#include <stdint.h>

#if defined(__linux__) && defined(__has_include) && defined(__has_builtin)
#if __has_include(<sys/rseq.h>) && __has_builtin(__builtin_thread_pointer)
#include <sys/rseq.h>
#define CMAPPER_HAVE_RSEQ 1
#endif
#endif
#ifndef CMAPPER_HAVE_RSEQ
#define CMAPPER_HAVE_RSEQ 0
#endif

/// Linux calls that glibc declares only under _GNU_SOURCE, which Swift's Glibc module
/// does not define. Each returns what the call returns (-1 with errno set on failure).

/// fallocate(2) with FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE.
int cmapper_punch_hole(int fd, int64_t offset, int64_t length);

/// pread(2) or pwrite(2) (`write` non-zero) through preadv2(2)/pwritev2(2) with RWF_DONTCACHE:
/// buffered I/O whose folios the kernel drops once the I/O (for a write, its writeback) is
/// done, so that a bulk copy does not fill the page cache; folios already cached stay. Fails
/// with EOPNOTSUPP where the file system does not support it (tmpfs, for one) and with
/// EINVAL on kernels before 6.14, which do not know the flag.
int64_t cmapper_transfer_dontcache(int fd, void *buffer, size_t count, int64_t offset, int write);

/// lseek(2) with SEEK_DATA.
int64_t cmapper_seek_data(int fd, int64_t offset);

/// CRC-32C (Castagnoli, reflected, initial value and final xor 0xFFFFFFFF) of `count` bytes:
/// the checksum of a thin pool's metadata blocks. Table-driven, portable C.
uint32_t cmapper_crc32c(const void *bytes, size_t count);

/// lseek(2) with SEEK_HOLE.
int64_t cmapper_seek_hole(int fd, int64_t offset);

/// Sets O_NOATIME on the open file description (fcntl(2) F_SETFL): reads through it no longer
/// look at or update the file's access time. Fails with EPERM unless the caller owns the file
/// or has CAP_FOWNER.
int cmapper_set_noatime(int fd);

/// The number of CPU ids the kernel may ever use: the highest id in
/// /sys/devices/system/cpu/possible plus one (CPUs that are offline or not plugged in yet
/// included), or get_nprocs_conf(3) where that file cannot be read. At least 1.
int cmapper_possible_cpus(void);

/// Binds the calling thread to `cpu` (sched_setaffinity(2)); 0 on success, -1 with errno set.
/// For tests that must put two threads on two given CPUs.
int cmapper_bind_thread_to_cpu(int cpu);

/// sched_getcpu(3): the CPU the calling thread runs on now (-1 if unknown), through glibc
/// (a call; a system call where glibc registered no rseq area).
int cmapper_sched_getcpu(void);

/// The CPU the calling thread runs on now (-1 if unknown), read straight from the thread's
/// rseq area, which glibc (2.35 and later) registers and the kernel keeps current at every
/// return to user space: one load and no call, where sched_getcpu(3) costs a call into
/// glibc. Where no area is registered (an older glibc, rseq turned off, a kernel or tool
/// without it) its cpu_id is negative, and this asks sched_getcpu(3). Any thread; the
/// answer may be stale as soon as it is read (the thread may migrate).
#if CMAPPER_HAVE_RSEQ
/// The calling thread's rseq area, or NULL when glibc registered none for it (its cpu_id is
/// then negative).
static inline __attribute__((always_inline)) struct rseq *cmapper_rseq_area(void) {
    struct rseq *area = (struct rseq *)((char *)__builtin_thread_pointer() + __rseq_offset);
    return __builtin_expect((int)__atomic_load_n(&area->cpu_id, __ATOMIC_RELAXED) >= 0, 1) ? area : 0;
}
#endif

static inline __attribute__((always_inline)) int cmapper_current_cpu(void) {
#if CMAPPER_HAVE_RSEQ
    const struct rseq *area = cmapper_rseq_area();
    if (area) return (int)__atomic_load_n(&area->cpu_id, __ATOMIC_RELAXED);
#endif
    return cmapper_sched_getcpu();
}

/// Atomic operations on plain 64-bit words, for counters kept in raw, cache-line-aligned
/// memory (one block of words per CPU shard). Relaxed: statistics, summed at scrape time.
/// Sequentially consistent: counts that take part in a Dekker handshake with a flag.
static inline void cmapper_add_relaxed(uint64_t *word, uint64_t value) {
    __atomic_fetch_add(word, value, __ATOMIC_RELAXED);
}

#if CMAPPER_HAVE_RSEQ && defined(__x86_64__) && defined(RSEQ_SIG)
#define CMAPPER_HAVE_PERCPU_ADD 1
/// The restartable sequence of cmapper_percpu_add, as an asm statement: `WINDOW` is asm
/// placed between the CPU read and the add, `ABORTED` asm run by the abort handler before it
/// restarts (both empty in cmapper_percpu_add; a test widens the window and counts aborts,
/// to show that the kernel honours the sequence). 3: the sequence's descriptor (version,
/// flags, start, length up to the commit, abort handler); 4: the abort handler, after the
/// signature the kernel checks, restarting at 5; 5: publish the descriptor; 1..2: the
/// sequence, which the add commits.
#define CMAPPER_PERCPU_ADD_ASM(WINDOW, ABORTED, OUTPUTS, INPUTS)                                   \
    __asm__ __volatile__(".pushsection __rseq_cs, \"aw\"\n\t"                                      \
                         ".balign 32\n\t"                                                         \
                         "3:\n\t"                                                                 \
                         ".long 0x0, 0x0\n\t"                                                     \
                         ".quad 1f, (2f - 1f), 4f\n\t"                                            \
                         ".popsection\n\t"                                                        \
                         ".pushsection __rseq_failure, \"ax\"\n\t"                                \
                         ".byte 0x0f, 0xb9, 0x3d\n\t"                                             \
                         ".long %c[signature]\n\t"                                                \
                         "4:\n\t" ABORTED "jmp 5f\n\t"                                            \
                         ".popsection\n\t"                                                        \
                         "5:\n\t"                                                                 \
                         "leaq 3b(%%rip), %[scratch]\n\t"                                         \
                         "movq %[scratch], %[rseq_cs]\n\t"                                        \
                         "1:\n\t"                                                                 \
                         "movl %[cpu_id], %k[scratch]\n\t"                                        \
                         "andq %[mask], %[scratch]\n\t"                                           \
                         "imulq %[stride], %[scratch]\n\t" WINDOW                                \
                         "addq %[value], (%[counterBase], %[scratch], 8)\n\t"                     \
                         "2:\n\t"                                                                 \
                         : [scratch] "=&r"(scratch), [rseq_cs] "=m"(area->rseq_cs) OUTPUTS        \
                         : [cpu_id] "m"(area->cpu_id), [mask] "r"(mask), [stride] "r"(stride),    \
                           [value] "r"(value), [counterBase] "r"(words + counter),                \
                           [signature] "i"(RSEQ_SIG) INPUTS                                       \
                         : "memory", "cc")
#else
#define CMAPPER_HAVE_PERCPU_ADD 0
#endif

/// Whether cmapper_percpu_add makes its add in a restartable sequence on the calling thread
/// (1), or falls back to a locked add (0).
static inline int cmapper_percpu_add_is_restartable(void) {
#if CMAPPER_HAVE_PERCPU_ADD
    return cmapper_rseq_area() != 0;
#else
    return 0;
#endif
}

/// Adds `value` to counter `counter` (a word index) of the calling CPU's block in a per-CPU
/// array: the word at `words + (cpu & mask) * stride + counter`, `stride` in words, `mask`
/// the block count (a power of two) minus one. Relaxed, and without a locked instruction
/// where it can: on x86-64 with an rseq area registered for the thread, the CPU is read and
/// the add made inside a restartable sequence (the kernel's `this_cpu_add`, in user space).
/// The add itself is the commit, one instruction, so a thread that is preempted, migrated or
/// signalled before it restarts from the CPU read and never adds twice. rseq does not stop
/// two CPUs from adding to one word: the caller must give every possible CPU id a block of
/// its own (`mask` + 1 blocks, at least cmapper_possible_cpus()); where CPUs share blocks it
/// must use a locked add instead. Elsewhere a locked add on the block of
/// cmapper_current_cpu(). Readers sum the blocks with relaxed loads.
static inline __attribute__((always_inline)) void cmapper_percpu_add(uint64_t *words, uint64_t stride,
                                                                     uint64_t mask, uint64_t counter,
                                                                     uint64_t value) {
#if CMAPPER_HAVE_PERCPU_ADD
    struct rseq *area = cmapper_rseq_area();
    if (area) {
        uint64_t scratch;
        CMAPPER_PERCPU_ADD_ASM("", "", , );
        return;
    }
#endif
    uint64_t shard = (uint64_t)(int64_t)cmapper_current_cpu() & mask;
    __atomic_fetch_add(words + shard * stride + counter, value, __ATOMIC_RELAXED);
}

/// cmapper_percpu_add with `spins` iterations of a busy loop between the CPU read and the
/// add, counting in `*aborts` how often the kernel aborted the sequence (tests: with more
/// threads than CPUs, preemption inside the window is common, and every one of them must
/// abort and restart). Where the add is not restartable, a locked add and no aborts.
void cmapper_percpu_add_widened(uint64_t *words, uint64_t stride, uint64_t mask, uint64_t counter,
                                uint64_t value, uint64_t spins, uint64_t *aborts);

static inline uint64_t cmapper_load_relaxed(const uint64_t *word) {
    return __atomic_load_n(word, __ATOMIC_RELAXED);
}

static inline void cmapper_add_seq_cst(int64_t *word, int64_t value) {
    __atomic_fetch_add(word, value, __ATOMIC_SEQ_CST);
}

static inline int64_t cmapper_load_seq_cst(const int64_t *word) {
    return __atomic_load_n(word, __ATOMIC_SEQ_CST);
}

#endif
