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

/// CLOCK_MONOTONIC in nanoseconds, read through the CPU's time-stamp counter where the
/// kernel itself keeps time with it (invariant TSC, clocksource "tsc"): an unserialised
/// `rdtsc` and a multiply, about half of a vDSO clock_gettime. The counter is scaled against
/// clock_gettime, measured over the last interval, and re-anchored to it every second by
/// whichever caller finds the anchor due, so a reading stays within nanoseconds of
/// clock_gettime's and never drifts from it. Two readings may step back by that much when
/// the anchor is renewed between them: differences must be clamped at 0. The first 200 ms
/// after the first call (calibration), and everywhere the counter is not trusted, the
/// readings are clock_gettime's. Any thread; no lock.
int64_t cmapper_monotonic_nanos(void);

/// How cmapper_monotonic_nanos reads the time now: 1 through the TSC, 2 calibrating it,
/// 0 clock_gettime only.
int cmapper_monotonic_uses_tsc(void);

/// Sets the calibration and re-anchoring intervals in nanoseconds (tests).
void cmapper_monotonic_set_intervals(int64_t calibrate, int64_t refresh);

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
