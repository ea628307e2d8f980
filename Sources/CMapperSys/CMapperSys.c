#define _GNU_SOURCE
#include <fcntl.h>
#include <unistd.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <sys/sysinfo.h>
#include <sys/uio.h>
#include "CMapperSys.h"

int cmapper_punch_hole(int fd, int64_t offset, int64_t length) {
    return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset, (off_t)length);
}

#ifndef RWF_DONTCACHE
#define RWF_DONTCACHE 0x00000080
#endif

int64_t cmapper_transfer_dontcache(int fd, void *buffer, size_t count, int64_t offset, int write) {
    struct iovec vector = {buffer, count};
    return write ? (int64_t)pwritev2(fd, &vector, 1, (off_t)offset, RWF_DONTCACHE)
                 : (int64_t)preadv2(fd, &vector, 1, (off_t)offset, RWF_DONTCACHE);
}

int64_t cmapper_seek_data(int fd, int64_t offset) {
    return (int64_t)lseek(fd, (off_t)offset, SEEK_DATA);
}

int64_t cmapper_seek_hole(int fd, int64_t offset) {
    return (int64_t)lseek(fd, (off_t)offset, SEEK_HOLE);
}

int cmapper_set_noatime(int fd) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) return -1;
    return fcntl(fd, F_SETFL, flags | O_NOATIME);
}

int cmapper_possible_cpus(void) {
    int highest = -1;
    FILE *file = fopen("/sys/devices/system/cpu/possible", "re");
    if (file) {
        // A list of ids and ranges ("0-63", "0,2-5"): the last number is the highest id.
        int number = 0, digits = 0, c;
        while ((c = fgetc(file)) != EOF) {
            if (c >= '0' && c <= '9') {
                number = number * 10 + (c - '0');
                digits++;
            } else {
                if (digits && number > highest) highest = number;
                number = 0;
                digits = 0;
            }
        }
        if (digits && number > highest) highest = number;
        fclose(file);
    }
    if (highest < 0) highest = get_nprocs_conf() - 1;
    return highest < 0 ? 1 : highest + 1;
}

int cmapper_bind_thread_to_cpu(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set);
}

int cmapper_sched_getcpu(void) {
    return sched_getcpu();
}

void cmapper_percpu_add_widened(uint64_t *words, uint64_t stride, uint64_t mask, uint64_t counter,
                                uint64_t value, uint64_t spins, uint64_t *aborts) {
#if CMAPPER_HAVE_PERCPU_ADD
    struct rseq *area = cmapper_rseq_area();
    if (area) {
        uint64_t scratch, left, aborted = 0;
#define WIDENED_OUTPUTS , [left] "=&r"(left), [aborted] "+r"(aborted)
#define WIDENED_INPUTS , [spins] "r"(spins | 1)
        CMAPPER_PERCPU_ADD_ASM("movq %[spins], %[left]\n\t"
                               "6:\n\t"
                               "decq %[left]\n\t"
                               "jnz 6b\n\t",
                               "incq %[aborted]\n\t", WIDENED_OUTPUTS, WIDENED_INPUTS);
#undef WIDENED_OUTPUTS
#undef WIDENED_INPUTS
        __atomic_fetch_add(aborts, aborted, __ATOMIC_RELAXED);
        return;
    }
#endif
    (void)spins;
    (void)aborts;
    cmapper_percpu_add(words, stride, mask, counter, value);
}

static uint32_t cmapper_crc32c_table[256];
static pthread_once_t cmapper_crc32c_once = PTHREAD_ONCE_INIT;

static void cmapper_crc32c_init(void) {
    for (uint32_t index = 0; index < 256; index++) {
        uint32_t value = index;
        for (int bit = 0; bit < 8; bit++) value = (value & 1) ? (value >> 1) ^ 0x82F63B78u : value >> 1;
        cmapper_crc32c_table[index] = value;
    }
}

uint32_t cmapper_crc32c(const void *bytes, size_t count) {
    pthread_once(&cmapper_crc32c_once, cmapper_crc32c_init);
    const uint8_t *byte = bytes;
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t index = 0; index < count; index++) crc = cmapper_crc32c_table[(crc ^ byte[index]) & 0xFF] ^ (crc >> 8);
    return crc ^ 0xFFFFFFFFu;
}
