#ifndef CMAPPERSYS_H
#define CMAPPERSYS_H

#include <stdint.h>

/// Linux calls that glibc declares only under _GNU_SOURCE, which Swift's Glibc module
/// does not define. Each returns what the call returns (-1 with errno set on failure).

/// fallocate(2) with FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE.
int cmapper_punch_hole(int fd, int64_t offset, int64_t length);

/// lseek(2) with SEEK_DATA.
int64_t cmapper_seek_data(int fd, int64_t offset);

/// lseek(2) with SEEK_HOLE.
int64_t cmapper_seek_hole(int fd, int64_t offset);

/// sched_getcpu(3): the CPU the calling thread runs on now (-1 if unknown). glibc reads it
/// from the thread's rseq area: no system call.
int cmapper_current_cpu(void);

/// Atomic operations on plain 64-bit words, for counters kept in raw, cache-line-aligned
/// memory (one block of words per CPU shard). Relaxed: statistics, summed at scrape time.
/// Sequentially consistent: counts that take part in a Dekker handshake with a flag.
static inline void cmapper_add_relaxed(uint64_t *word, uint64_t value) {
    __atomic_fetch_add(word, value, __ATOMIC_RELAXED);
}

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
