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

#endif
