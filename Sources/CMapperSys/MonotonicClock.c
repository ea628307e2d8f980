// CLOCK_MONOTONIC read through the time-stamp counter (see CMapperSys.h for the contract).
//
// State: a seqlock-protected anchor (a TSC reading, the CLOCK_MONOTONIC nanoseconds taken
// with it, and nanoseconds per tick as 32.32 fixed point). A reading is the anchor's
// nanoseconds plus the ticks since it, scaled. One thread at a time (elected by a flag)
// re-anchors once the anchor is older than the refresh interval, with a scale measured over
// that interval, so the scale follows any slewing of CLOCK_MONOTONIC and an error in it
// never accumulates beyond one interval. Until the first anchor (the calibration interval
// after the first call), and wherever the counter cannot be trusted, readings are
// clock_gettime's own.
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "CMapperSys.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <x86intrin.h>
#define CMAPPER_HAVE_TSC 1
#else
#define CMAPPER_HAVE_TSC 0
#endif

static int64_t gettime_nanos(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#if CMAPPER_HAVE_TSC

enum {
    SOURCE_UNKNOWN = 0,
    SOURCE_CALIBRATING = 1,
    SOURCE_TSC = CMAPPER_CLOCK_SOURCE_TSC,
    SOURCE_GETTIME = 3
};

static pthread_once_t source_once = PTHREAD_ONCE_INIT;
/// Nanoseconds of calibration before the first anchor, and between re-anchorings.
static int64_t calibrate_nanos = 200000000;
static int64_t refresh_nanos = 1000000000;
/// The source and the anchor (CMapperSys.h): written only here, read here and by the inline
/// fast path of cmapper_monotonic_nanos.
struct cmapper_clock_state cmapper_clock = {.source = SOURCE_UNKNOWN};
/// Set by the thread that is re-anchoring.
static int refreshing;

static uint64_t tsc_now(void) { return __rdtsc(); }

/// At most this many ticks between the two counter readings around a clock_gettime used as
/// an anchor (tens of microseconds): a thread preempted there would otherwise offset the
/// anchor by the time it was away.
static const uint64_t pair_ticks_limit = 100000;

/// Reads clock_gettime and the counter at the same moment (the counter's midpoint around
/// the call); returns 0 if the two could not be read close enough together.
static int read_pair(int64_t *nanos, uint64_t *tsc) {
    uint64_t before = tsc_now();
    *nanos = gettime_nanos();
    uint64_t after = tsc_now();
    if (after < before || after - before > pair_ticks_limit) return 0;
    *tsc = before + (after - before) / 2;
    return 1;
}

/// Whether the kernel itself keeps time with an invariant TSC (which it checks for
/// synchronisation across CPUs): CPUID's invariant-TSC bit and clocksource "tsc".
static int tsc_trusted(void) {
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(0x80000007, &eax, &ebx, &ecx, &edx) || !(edx & (1u << 8))) return 0;
    FILE *file = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "re");
    if (!file) return 0;
    char name[32] = {0};
    int ok = fgets(name, sizeof name, file) != NULL && strcmp(name, "tsc\n") == 0;
    fclose(file);
    return ok;
}

static void choose_source(void) {
    if (!tsc_trusted()) {
        __atomic_store_n(&cmapper_clock.source, SOURCE_GETTIME, __ATOMIC_RELEASE);
        return;
    }
    // The calibration's starting point is the first anchor, published with no scale yet.
    int64_t nanos;
    uint64_t tsc;
    for (int attempt = 0; attempt < 100; attempt++) {
        if (read_pair(&nanos, &tsc)) {
            cmapper_clock.nanos = nanos;
            cmapper_clock.tsc = tsc;
            __atomic_store_n(&cmapper_clock.source, SOURCE_CALIBRATING, __ATOMIC_RELEASE);
            return;
        }
    }
    __atomic_store_n(&cmapper_clock.source, SOURCE_GETTIME, __ATOMIC_RELEASE);
}

/// Publishes a new anchor measured now, with the scale measured since the last one, and
/// returns its nanoseconds (keeps the old anchor when the new one cannot be measured well:
/// the next due reading tries again). Only the thread holding `refreshing` calls this.
static int64_t reanchor(void) {
    int64_t nanos;
    uint64_t tsc;
    if (!read_pair(&nanos, &tsc)) return nanos;
    uint64_t old_tsc = __atomic_load_n(&cmapper_clock.tsc, __ATOMIC_RELAXED);
    int64_t old_nanos = __atomic_load_n(&cmapper_clock.nanos, __ATOMIC_RELAXED);
    if (tsc <= old_tsc || nanos <= old_nanos) return nanos;  // no usable interval: keep the old one
    uint64_t scale = (uint64_t)((((unsigned __int128)(uint64_t)(nanos - old_nanos)) << 32) / (tsc - old_tsc));
    if (scale == 0) return nanos;
    uint64_t ticks = (uint64_t)((((unsigned __int128)(uint64_t)__atomic_load_n(&refresh_nanos, __ATOMIC_RELAXED)) << 32) / scale);
    uint64_t seq = __atomic_load_n(&cmapper_clock.sequence, __ATOMIC_RELAXED);
    __atomic_store_n(&cmapper_clock.sequence, seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    __atomic_store_n(&cmapper_clock.tsc, tsc, __ATOMIC_RELAXED);
    __atomic_store_n(&cmapper_clock.nanos, nanos, __ATOMIC_RELAXED);
    __atomic_store_n(&cmapper_clock.scale_q32, scale, __ATOMIC_RELAXED);
    __atomic_store_n(&cmapper_clock.refresh_ticks, ticks, __ATOMIC_RELAXED);
    __atomic_store_n(&cmapper_clock.sequence, seq + 2, __ATOMIC_RELEASE);
    __atomic_store_n(&cmapper_clock.source, SOURCE_TSC, __ATOMIC_RELEASE);
    return nanos;
}

static int64_t try_reanchor(void) {
    int expected = 0;
    if (!__atomic_compare_exchange_n(&refreshing, &expected, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) return -1;
    int64_t nanos = reanchor();
    __atomic_store_n(&refreshing, 0, __ATOMIC_RELEASE);
    return nanos;
}

int64_t cmapper_monotonic_nanos_slow(void) {
    int current = __atomic_load_n(&cmapper_clock.source, __ATOMIC_ACQUIRE);
    if (current == SOURCE_TSC) {
        for (;;) {
            uint64_t seq = __atomic_load_n(&cmapper_clock.sequence, __ATOMIC_ACQUIRE);
            if (seq & 1) break;  // being re-anchored: this one reading comes from clock_gettime
            uint64_t tsc0 = __atomic_load_n(&cmapper_clock.tsc, __ATOMIC_RELAXED);
            int64_t nanos0 = __atomic_load_n(&cmapper_clock.nanos, __ATOMIC_RELAXED);
            uint64_t scale = __atomic_load_n(&cmapper_clock.scale_q32, __ATOMIC_RELAXED);
            uint64_t refresh = __atomic_load_n(&cmapper_clock.refresh_ticks, __ATOMIC_RELAXED);
            __atomic_thread_fence(__ATOMIC_ACQUIRE);
            if (__atomic_load_n(&cmapper_clock.sequence, __ATOMIC_RELAXED) != seq) continue;
            uint64_t tsc = tsc_now();
            uint64_t ticks = tsc > tsc0 ? tsc - tsc0 : 0;
            if (ticks < refresh) return nanos0 + (int64_t)(((unsigned __int128)ticks * scale) >> 32);
            // The anchor is due: one thread renews it; the others use clock_gettime meanwhile.
            int64_t renewed = try_reanchor();
            return renewed >= 0 ? renewed : gettime_nanos();
        }
        return gettime_nanos();
    }
    if (current == SOURCE_UNKNOWN) {
        pthread_once(&source_once, choose_source);
        current = __atomic_load_n(&cmapper_clock.source, __ATOMIC_ACQUIRE);
    }
    if (current == SOURCE_CALIBRATING) {
        int64_t nanos = gettime_nanos();
        if (nanos - __atomic_load_n(&cmapper_clock.nanos, __ATOMIC_RELAXED) >= __atomic_load_n(&calibrate_nanos, __ATOMIC_RELAXED)) {
            int64_t anchored = try_reanchor();
            if (anchored >= 0) return anchored;
        }
        return nanos;
    }
    return gettime_nanos();
}

int cmapper_monotonic_uses_tsc(void) {
    if (__atomic_load_n(&cmapper_clock.source, __ATOMIC_ACQUIRE) == SOURCE_UNKNOWN) cmapper_monotonic_nanos();
    int current = __atomic_load_n(&cmapper_clock.source, __ATOMIC_ACQUIRE);
    return current == SOURCE_TSC ? 1 : (current == SOURCE_CALIBRATING ? 2 : 0);
}

void cmapper_monotonic_set_intervals(int64_t calibrate, int64_t refresh) {
    __atomic_store_n(&calibrate_nanos, calibrate, __ATOMIC_RELAXED);
    __atomic_store_n(&refresh_nanos, refresh, __ATOMIC_RELAXED);
}

#else

struct cmapper_clock_state cmapper_clock;

int64_t cmapper_monotonic_nanos_slow(void) { return gettime_nanos(); }
int cmapper_monotonic_uses_tsc(void) { return 0; }
void cmapper_monotonic_set_intervals(int64_t calibrate, int64_t refresh) {
    (void)calibrate;
    (void)refresh;
}

#endif
